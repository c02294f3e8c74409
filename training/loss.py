"""YOLOX training loss with SimOTA label assignment (written from the YOLOX paper).

Per image: anchors whose centre lies in a ground-truth box or within 2.5 strides of
its centre are candidates; each box takes its k cheapest candidates, k = the rounded
sum of its 10 best IoUs (dynamic k), cost = class BCE + 3 x -log IoU (+ a large
penalty outside box-and-centre); an anchor claimed twice goes to its cheapest box.
Loss = 5 x (1 - IoU^2) on matched boxes + BCE objectness on every anchor + BCE class
on matched anchors (target = one-hot x IoU), divided by the number of matches.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU of xyxy boxes, (n, m)."""
    lt = torch.max(a[:, None, :2], b[None, :, :2])
    rb = torch.min(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(-1)
    return inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9)


def decode(raw: torch.Tensor, grid: torch.Tensor, strides: torch.Tensor) -> torch.Tensor:
    """Raw box outputs (..., A, 4: grid offsets, log sizes) to xyxy input pixels."""
    s = strides[:, None]
    cxy = (raw[..., :2] + grid) * s
    wh = torch.exp(raw[..., 2:4].clamp(max=10.0)) * s
    return torch.cat([cxy - wh / 2, cxy + wh / 2], -1)


@torch.no_grad()
def simota(pred_boxes, obj_logit, cls_logit, gt_boxes, gt_labels, grid, strides, num_classes, radius=2.5):
    """(fg mask over anchors, matched gt index per fg anchor, IoU of each fg pair)."""
    centres = (grid + 0.5) * strides[:, None]
    cx, cy = centres[:, 0], centres[:, 1]
    in_box = ((cx[None] > gt_boxes[:, None, 0]) & (cx[None] < gt_boxes[:, None, 2])
              & (cy[None] > gt_boxes[:, None, 1]) & (cy[None] < gt_boxes[:, None, 3]))
    gcx = (gt_boxes[:, 0] + gt_boxes[:, 2]) / 2
    gcy = (gt_boxes[:, 1] + gt_boxes[:, 3]) / 2
    rad = radius * strides[None]
    in_ctr = ((cx[None] - gcx[:, None]).abs() < rad) & ((cy[None] - gcy[:, None]).abs() < rad)
    cand = (in_box | in_ctr).any(0)
    ci = torch.nonzero(cand).squeeze(1)
    A = pred_boxes.shape[0]
    if ci.numel() == 0:
        return torch.zeros(A, dtype=torch.bool), ci, pred_boxes.new_zeros(0)
    ious = box_iou(gt_boxes, pred_boxes[ci])  # G x C
    onehot = F.one_hot(gt_labels, num_classes).float()
    p = (cls_logit[ci].sigmoid() * obj_logit[ci].sigmoid()[:, None]).sqrt()  # C x K
    cls_cost = F.binary_cross_entropy(p[None].expand(len(gt_boxes), -1, -1).clamp(1e-6, 1 - 1e-6),
                                      onehot[:, None].expand(-1, len(ci), -1), reduction="none").sum(-1)
    both = (in_box & in_ctr)[:, ci]
    cost = cls_cost + 3.0 * -torch.log(ious + 1e-8) + 1e5 * (~both).float()
    k = torch.topk(ious, min(10, len(ci)), dim=1).values.sum(1).int().clamp(min=1)
    match = torch.zeros_like(cost, dtype=torch.bool)
    for g in range(len(gt_boxes)):
        idx = torch.topk(cost[g], int(k[g]), largest=False).indices
        match[g, idx] = True
    multi = match.sum(0) > 1
    if multi.any():
        best = cost[:, multi].argmin(0)
        match[:, multi] = False
        match[best, torch.nonzero(multi).squeeze(1)] = True
    fg_c = match.any(0)
    gt_idx = match[:, fg_c].float().argmax(0)
    fg = torch.zeros(A, dtype=torch.bool)
    fg[ci[fg_c]] = True
    pair_iou = ious[gt_idx, torch.nonzero(fg_c).squeeze(1)]
    return fg, gt_idx, pair_iou


def yolox_loss(raw: torch.Tensor, targets: list[tuple[torch.Tensor, torch.Tensor]], grid: torch.Tensor,
               strides: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss over a batch; ``raw`` is the training-mode output N x A x (5 + C) (logits)."""
    boxes = decode(raw[..., :4], grid, strides)
    obj_t = torch.zeros(raw.shape[:2])
    iou_terms, cls_terms = [], []
    n_fg = 0
    for i, (gb, gl) in enumerate(targets):
        if len(gb) == 0:
            continue
        fg, gi, piou = simota(boxes[i].detach(), raw[i, :, 4].detach(), raw[i, :, 5:].detach(), gb, gl,
                              grid, strides, num_classes)
        if fg.sum() == 0:
            continue
        obj_t[i, fg] = 1.0
        matched = gb[gi]
        iou = box_iou(boxes[i, fg], matched).diagonal()
        iou_terms.append(1 - iou ** 2)
        cls_t = F.one_hot(gl[gi], num_classes).float() * piou[:, None]
        cls_terms.append(F.binary_cross_entropy_with_logits(raw[i, fg, 5:], cls_t, reduction="none").sum(-1))
        n_fg += int(fg.sum())
    n = max(n_fg, 1)
    l_obj = F.binary_cross_entropy_with_logits(raw[..., 4], obj_t, reduction="sum") / n
    l_iou = torch.cat(iou_terms).sum() / n if iou_terms else raw.sum() * 0
    l_cls = torch.cat(cls_terms).sum() / n if cls_terms else raw.sum() * 0
    total = 5.0 * l_iou + l_obj + l_cls
    return total, {"iou": float(l_iou.detach()), "obj": float(l_obj.detach()), "cls": float(l_cls.detach()), "fg": n_fg}
