"""What the kit loads and writes: VGG weights, example images, the one image loader, the one
atomic write, trained networks on disk (``models/``)."""
