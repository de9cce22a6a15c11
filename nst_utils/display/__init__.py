"""What the notebooks show: figures and plots, VGG's anatomy, the interactive explorers."""
