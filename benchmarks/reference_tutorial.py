"""A reference written the way the official PyTorch tutorial does style transfer.

"Neural Transfer Using PyTorch" (pytorch.org/tutorials/advanced/neural_style_tutorial)
builds the optimisation like this, and so does this file (written from its description, not
copied):

* ``ContentLoss`` / ``StyleLoss`` are ``nn.Module``s that store their target and compute
  their loss in ``forward`` (stored as ``self.loss``), passing the input through unchanged;
* they are inserted into a fresh ``nn.Sequential`` built from a copy of the VGG features
  (after the layers they watch), and the model is cut after the last loss module;
* the network's weights are left trainable (``requires_grad`` True), so every backward pass
  also computes the weight gradients;
* ``optim.LBFGS([input_img])`` with its defaults (``max_iter=20`` evaluations per ``step``,
  no line search), run as ``while run[0] <= num_steps: optimizer.step(closure)``, with the
  clamp to ``[0, 1]`` inside the closure and once more at the end.

For a fair comparison everything else is the kit's: the same VGG weights and normalisation,
the same layers (content relu4_2, style relu1_1 … relu5_1), the kit's loss definitions
(:func:`~nst_utils.paper.losses.content_loss` with the kit's normalisation, :math:`E_l` with
:math:`w_l = 1/5`, :math:`\\beta = 100`), the same size and initialisation (the content image).
"""

from __future__ import annotations

import copy
import time

import torch
from torch import nn, optim

from nst_utils.paper.losses import content_loss, gram_matrix, style_layer_loss
from nst_utils.paper.vgg import VGGFeatures


class Normalization(nn.Module):
    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.mean = mean.clone().view(-1, 1, 1)
        self.std = std.clone().view(-1, 1, 1)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return (img - self.mean) / self.std


class ContentLoss(nn.Module):
    def __init__(self, target: torch.Tensor, normalization: str = "mean") -> None:
        super().__init__()
        self.target = target.detach()
        self.normalization = normalization
        self.loss = torch.zeros(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.loss = content_loss(x, self.target, self.normalization)
        return x


class StyleLoss(nn.Module):
    def __init__(self, target_feature: torch.Tensor) -> None:
        super().__init__()
        self.target = gram_matrix(target_feature).detach()
        self.loss = torch.zeros(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, n, h, w = x.shape
        self.loss = style_layer_loss(gram_matrix(x), self.target, n, h * w)
        return x


def get_style_model_and_losses(net: VGGFeatures, style_img, content_img, content_layers,
                               style_layers):
    """The tutorial's model builder: a copied ``nn.Sequential`` with loss modules inserted."""
    cnn = copy.deepcopy(net.layers)  # the tutorial copies the pretrained features too
    cnn.requires_grad_(True)  # ... and never freezes them
    for param in cnn.parameters():  # plain layout, as a fresh torchvision model has
        param.data = param.data.contiguous()
    model = nn.Sequential(Normalization(net.mean, net.std))
    content_losses, style_losses = [], []
    for name, layer in cnn.named_children():
        if isinstance(layer, nn.ReLU):
            layer = nn.ReLU(inplace=False)
        model.add_module(name, layer)
        if name in content_layers:
            target = model(content_img).detach()
            module = ContentLoss(target)
            model.add_module(f"content_loss_{name}", module)
            content_losses.append(module)
        if name in style_layers:
            target_feature = model(style_img).detach()
            module = StyleLoss(target_feature)
            model.add_module(f"style_loss_{name}", module)
            style_losses.append(module)
    # trim off the layers after the last loss module
    for i in range(len(model) - 1, -1, -1):
        if isinstance(model[i], ContentLoss | StyleLoss):
            break
    model = model[: i + 1]
    return model, style_losses, content_losses


def run_style_transfer(net: VGGFeatures, content_img, style_img, input_img, num_steps=50,
                       style_weight=100.0, content_weight=1.0,
                       content_layers=("relu4_2",),
                       style_layers=("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")):
    """The tutorial's loop; returns the image and a history of (evaluation, seconds, total).

    ``num_steps`` counts closure evaluations (forward + backward), like the tutorial's
    ``run[0]``; because each ``step`` may evaluate up to 20 times, the loop can end a few
    evaluations past ``num_steps``.
    """
    model, style_losses, content_losses = get_style_model_and_losses(
        net, style_img, content_img, content_layers, style_layers
    )
    input_img = input_img.clone()
    input_img.requires_grad_(True)
    model.eval()
    optimizer = optim.LBFGS([input_img])
    run = [0]
    history: list[dict] = []
    start = time.perf_counter()

    def closure():
        with torch.no_grad():
            input_img.clamp_(0, 1)
        optimizer.zero_grad()
        model(input_img)
        style_score = sum(sl.loss for sl in style_losses) / len(style_losses)
        content_score = sum(cl.loss for cl in content_losses) / len(content_losses)
        loss = style_weight * style_score + content_weight * content_score
        loss.backward()
        run[0] += 1
        history.append({"iteration": run[0], "seconds": time.perf_counter() - start,
                        "content": content_score.item(), "style": style_score.item(),
                        "total": loss.item()})
        return loss

    while run[0] <= num_steps:
        optimizer.step(closure)
    with torch.no_grad():
        input_img.clamp_(0, 1)
    return input_img.detach(), history
