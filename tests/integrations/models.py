"""Small hand-written versions of the models people train, for the real-model tests.

torchvision and timm are not dependencies, so their architectures are written out here with the
same module names (``layer2.0.downsample.0``, ``features.3``, ``blocks.0.attn.qkv``), at a small
width. Each factory returns ``(model, batch, loss)``: ``batch(g)`` draws random inputs from the
generator ``g`` and ``loss(model, inputs)`` gives the scalar to backpropagate.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Case", "CASES", "resnet18", "vgg11", "vit", "gpt2", "lstm_classifier", "tied_twice", "plain_sigmoid_cnn"]

CLASSES = 10


class Case(NamedTuple):
    model: nn.Module
    batch: Callable[[torch.Generator], tuple]
    loss: Callable[[nn.Module, tuple], Tensor]


def _images(n: int = 4, size: int = 32) -> Callable[[torch.Generator], tuple]:
    return lambda g: (torch.randn(n, 3, size, size, generator=g), torch.randint(0, CLASSES, (n,), generator=g))


def _cross_entropy(model: nn.Module, batch: tuple) -> Tensor:
    x, y = batch
    return F.cross_entropy(model(x), y)


# --- ResNet-18 (torchvision.models.resnet18's layout) ------------------------------------------
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)  # called twice, as in torchvision
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """BasicBlocks [2, 2, 2, 2] at widths w, 2w, 4w, 8w; 7×7 stem, max-pool, global average pool."""

    def __init__(self, width: int = 8, classes: int = CLASSES):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        c = width
        for i, (mult, stride) in enumerate([(1, 1), (2, 2), (4, 2), (8, 2)], start=1):
            blocks = [BasicBlock(c, width * mult, stride), BasicBlock(width * mult, width * mult)]
            setattr(self, f"layer{i}", nn.Sequential(*blocks))
            c = width * mult
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(c, classes)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(width: int = 8) -> Case:
    return Case(ResNet18(width), _images(), _cross_entropy)


# --- VGG-11 (torchvision.models.vgg11's layout) -------------------------------------------------
VGG11 = [1, "M", 2, "M", 4, 4, "M", 8, 8, "M", 8, 8, "M"]  # × width (64 in torchvision)


class VGG(nn.Module):
    def __init__(self, width: int = 8, hidden: int = 64, classes: int = CLASSES):
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for v in VGG11:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, v * width, 3, padding=1), nn.ReLU(inplace=True)]
                c = v * width
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(c * 7 * 7, hidden), nn.ReLU(True), nn.Dropout(),
            nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(),
            nn.Linear(hidden, classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def vgg11(width: int = 8) -> Case:
    return Case(VGG(width), _images(), _cross_entropy)


# --- a small ViT (timm's VisionTransformer layout: cls_token and pos_embed on the model) --------
class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])  # (B, H, N, C/H)
        return self.proj(x.transpose(1, 2).reshape(B, N, C))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class ViTBlock(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, 2 * dim)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, patch)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, N, D)


class ViT(nn.Module):
    def __init__(self, size: int = 32, patch: int = 8, dim: int = 16, depth: int = 2, heads: int = 2,
                 classes: int = CLASSES):
        super().__init__()
        self.patch_embed = PatchEmbed(patch, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, (size // patch) ** 2 + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*[ViTBlock(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)
        nn.init.normal_(self.cls_token, std=1e-6)

    def forward(self, x: Tensor) -> Tensor:
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1) + self.pos_embed
        return self.head(self.norm(self.blocks(x))[:, 0])


def vit() -> Case:
    return Case(ViT(), _images(), _cross_entropy)


# --- GPT-2 from transformers, random init, tied wte / lm_head ------------------------------------
def gpt2(vocab: int = 64, context: int = 8) -> Case:
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=vocab, n_positions=16, n_embd=16, n_layer=2, n_head=2, resid_pdrop=0.0,
                        embd_pdrop=0.0, attn_pdrop=0.0, tie_word_embeddings=True)
    model = GPT2LMHeadModel(config)
    assert model.lm_head.weight is model.transformer.wte.weight

    def loss(m: nn.Module, batch: tuple) -> Tensor:
        return m(input_ids=batch[0], labels=batch[0]).loss

    return Case(model, lambda g: (torch.randint(0, vocab, (4, context), generator=g),), loss)


# --- an LSTM classifier (two stacked layers in one nn.LSTM) --------------------------------------
class LSTMClassifier(nn.Module):
    def __init__(self, vocab: int = 20, dim: int = 8, hidden: int = 12, classes: int = CLASSES):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.lstm = nn.LSTM(dim, hidden, num_layers=2, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, tokens: Tensor) -> Tensor:
        _, (h, _) = self.lstm(self.embed(tokens))
        return self.fc(h[-1])


def lstm_classifier() -> Case:
    return Case(LSTMClassifier(), lambda g: (torch.randint(0, 20, (4, 6), generator=g),
                                             torch.randint(0, CLASSES, (4,), generator=g)), _cross_entropy)


# --- tied weights and a module used twice ----------------------------------------------------------
class TiedTwice(nn.Module):
    """An embedding whose weight is also the output layer's, and one hidden layer applied twice."""

    def __init__(self, vocab: int = 20, dim: int = 12):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.hidden = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, vocab, bias=False)
        self.out.weight = self.embed.weight

    def forward(self, tokens: Tensor) -> Tensor:
        h = torch.tanh(self.hidden(self.embed(tokens)))
        h = torch.tanh(self.hidden(h))  # the same module again
        return self.out(self.norm(h))


def tied_twice() -> Case:
    def loss(m: nn.Module, batch: tuple) -> Tensor:
        logits = m(batch[0])
        return F.cross_entropy(logits.flatten(0, 1), batch[0].flatten())

    return Case(TiedTwice(), lambda g: (torch.randint(0, 20, (4, 6), generator=g),), loss)


# --- a deep plain sigmoid CNN: the textbook vanishing case ----------------------------------------
class PlainSigmoidCNN(nn.Module):
    def __init__(self, depth: int = 12, width: int = 8, classes: int = CLASSES):
        super().__init__()
        convs: list[nn.Module] = []
        c = 3
        for _ in range(depth):
            convs += [nn.Conv2d(c, width, 3, padding=1), nn.Sigmoid()]
            c = width
        self.features = nn.Sequential(*convs)
        self.fc = nn.Linear(width, classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x).mean((2, 3)))


def plain_sigmoid_cnn() -> Case:
    return Case(PlainSigmoidCNN(), _images(size=16), _cross_entropy)


CASES: dict[str, Callable[[], Case]] = {
    "resnet18": resnet18, "vgg11": vgg11, "vit": vit, "gpt2": gpt2, "lstm": lstm_classifier,
    "tied_twice": tied_twice,
}
