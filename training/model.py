"""YOLOX-Nano in PyTorch, written from the published YOLOX design (Apache-2.0).

Depthwise CSPDarknet (depth 0.33, width 0.25) -> PAFPN -> decoupled head, strides 8/16/32.
The stock ``yolox_nano.onnx`` has its BatchNorms fused into the convolutions, so every
conv here carries a bias and there is no BatchNorm: the ONNX initializers map onto the
modules one to one (`training.onnx_weights`). Fine-tuning keeps that fused form; with a
few hundred images, re-learning batch statistics would only add noise.

Example::

    model = YoloxNano(num_classes=4)
    raw = model(torch.zeros(1, 3, 384, 640))   # eval: 1 x 5040 x 9, obj/cls sigmoided
"""

from __future__ import annotations

import torch
from torch import nn

STRIDES = (8, 16, 32)


class ConvAct(nn.Module):
    """Conv (bias, BatchNorm fused in) + SiLU."""

    def __init__(self, cin: int, cout: int, k: int = 1, s: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=True)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


class DWConv(nn.Module):
    """Depthwise k x k then pointwise 1 x 1, each with SiLU."""

    def __init__(self, cin: int, cout: int, k: int = 3, s: int = 1) -> None:
        super().__init__()
        self.dconv = ConvAct(cin, cin, k, s, groups=cin)
        self.pconv = ConvAct(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pconv(self.dconv(x))


class Bottleneck(nn.Module):
    def __init__(self, c: int, shortcut: bool) -> None:
        super().__init__()
        self.conv1 = ConvAct(c, c, 1)
        self.conv2 = DWConv(c, c, 3)
        self.add = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.conv1(x))
        return x + y if self.add else y


class CSPLayer(nn.Module):
    """Two 1x1 branches, n bottlenecks on the first, concatenated and mixed by a 1x1."""

    def __init__(self, cin: int, cout: int, n: int, shortcut: bool = True) -> None:
        super().__init__()
        hidden = cout // 2
        self.conv1 = ConvAct(cin, hidden, 1)
        self.conv2 = ConvAct(cin, hidden, 1)
        self.m = nn.Sequential(*[Bottleneck(hidden, shortcut) for _ in range(n)])
        self.conv3 = ConvAct(2 * hidden, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.conv1(x)
        b = self.conv2(x)
        return self.conv3(torch.cat([self.m(a), b], 1))


class SPP(nn.Module):
    def __init__(self, cin: int, cout: int, ks: tuple[int, ...] = (5, 9, 13)) -> None:
        super().__init__()
        hidden = cin // 2
        self.conv1 = ConvAct(cin, hidden, 1)
        self.pools = nn.ModuleList([nn.MaxPool2d(k, 1, k // 2) for k in ks])
        self.conv2 = ConvAct(hidden * (len(ks) + 1), cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(torch.cat([x] + [p(x) for p in self.pools], 1))


class Focus(nn.Module):
    """Space-to-depth (2x2 pixels into 4x channels) then a 3x3 conv."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = ConvAct(cin * 4, cout, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tl = x[..., ::2, ::2]
        tr = x[..., ::2, 1::2]
        bl = x[..., 1::2, ::2]
        br = x[..., 1::2, 1::2]
        return self.conv(torch.cat([tl, bl, tr, br], 1))


class Backbone(nn.Module):
    def __init__(self, width: float = 0.25, depth: float = 0.33) -> None:
        super().__init__()
        c = int(64 * width)
        n = max(round(3 * depth), 1)
        self.stem = Focus(3, c)
        self.dark2 = nn.Sequential(DWConv(c, c * 2, 3, 2), CSPLayer(c * 2, c * 2, n))
        self.dark3 = nn.Sequential(DWConv(c * 2, c * 4, 3, 2), CSPLayer(c * 4, c * 4, n * 3))
        self.dark4 = nn.Sequential(DWConv(c * 4, c * 8, 3, 2), CSPLayer(c * 8, c * 8, n * 3))
        self.dark5 = nn.Sequential(DWConv(c * 8, c * 16, 3, 2), SPP(c * 16, c * 16),
                                   CSPLayer(c * 16, c * 16, n, shortcut=False))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.dark2(self.stem(x))
        c3 = self.dark3(x)
        c4 = self.dark4(c3)
        c5 = self.dark5(c4)
        return c3, c4, c5


class PAFPN(nn.Module):
    def __init__(self, width: float = 0.25, depth: float = 0.33) -> None:
        super().__init__()
        c3, c4, c5 = (int(v * width) for v in (256, 512, 1024))
        n = round(3 * depth)
        self.backbone = Backbone(width, depth)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.lateral_conv0 = ConvAct(c5, c4, 1)
        self.C3_p4 = CSPLayer(2 * c4, c4, n, False)
        self.reduce_conv1 = ConvAct(c4, c3, 1)
        self.C3_p3 = CSPLayer(2 * c3, c3, n, False)
        self.bu_conv2 = DWConv(c3, c3, 3, 2)
        self.C3_n3 = CSPLayer(2 * c3, c4, n, False)
        self.bu_conv1 = DWConv(c4, c4, 3, 2)
        self.C3_n4 = CSPLayer(2 * c4, c5, n, False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x2, x1, x0 = self.backbone(x)
        fpn_out0 = self.lateral_conv0(x0)
        f = self.C3_p4(torch.cat([self.up(fpn_out0), x1], 1))
        fpn_out1 = self.reduce_conv1(f)
        pan2 = self.C3_p3(torch.cat([self.up(fpn_out1), x2], 1))
        pan1 = self.C3_n3(torch.cat([self.bu_conv2(pan2), fpn_out1], 1))
        pan0 = self.C3_n4(torch.cat([self.bu_conv1(pan1), fpn_out0], 1))
        return pan2, pan1, pan0


class HeadLevel(nn.Module):
    """One stride of the decoupled head: a stem, a class branch, a box+objectness branch."""

    def __init__(self, cin: int, hidden: int, num_classes: int) -> None:
        super().__init__()
        self.stem = ConvAct(cin, hidden, 1)
        self.cls_convs = nn.Sequential(DWConv(hidden, hidden, 3), DWConv(hidden, hidden, 3))
        self.cls_pred = nn.Conv2d(hidden, num_classes, 1)
        self.reg_convs = nn.Sequential(DWConv(hidden, hidden, 3), DWConv(hidden, hidden, 3))
        self.reg_pred = nn.Conv2d(hidden, 4, 1)
        self.obj_pred = nn.Conv2d(hidden, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        cls = self.cls_pred(self.cls_convs(x))
        r = self.reg_convs(x)
        # order of the raw output row: box (4), objectness (1), classes
        return torch.cat([self.reg_pred(r), self.obj_pred(r), cls], 1)


class YoloxNano(nn.Module):
    """YOLOX-Nano. ``forward`` returns N x anchors x (5 + classes) raw logits in training
    mode and the exported layout (objectness and class scores sigmoided) in eval mode;
    boxes stay as grid offsets / log sizes in both."""

    def __init__(self, num_classes: int = 80, width: float = 0.25, depth: float = 0.33) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.neck = PAFPN(width, depth)
        hidden = int(256 * width)
        self.head = nn.ModuleList(HeadLevel(int(c * width), hidden, num_classes) for c in (256, 512, 1024))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [h(f).flatten(2) for h, f in zip(self.head, self.neck(x), strict=True)]
        out = torch.cat(outs, 2).permute(0, 2, 1)
        if self.training:
            return out
        return torch.cat([out[..., :4], out[..., 4:].sigmoid()], -1)


def make_grid(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Anchor centres (grid x, y) and strides for an input of h x w, in output order."""
    grids, strides = [], []
    for s in STRIDES:
        ys, xs = torch.meshgrid(torch.arange(h // s), torch.arange(w // s), indexing="ij")
        grids.append(torch.stack([xs, ys], -1).reshape(-1, 2))
        strides.append(torch.full((grids[-1].shape[0],), float(s)))
    return torch.cat(grids).float(), torch.cat(strides)
