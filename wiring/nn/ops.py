"""Node operations :math:`f_\\theta`: what each node does to its input :math:`I_v`.

The paper's node op (DNW sec. 2.1 and 2.4) is a norm, a ReLU and a depthwise 3×3 convolution, one
channel per node: for a group of ``c`` nodes it is ``conv(relu(norm(I)))`` with a grouped
convolution of ``groups=c``. Nodes are processed together, never one by one.

A node op factory is called as ``factory(channels, spatial_dims)`` and returns a module mapping
(B, channels, *S) to the same shape. Pass a name from :data:`NODE_OPS` or your own factory to
``compile(..., node_op=...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import nn

__all__ = ["NODE_OPS", "NormReluConv", "depthwise_conv", "make_node_op_factory", "norm_layer"]

NORMS = ("batch", "instance", None)


def norm_layer(norm: str | None, channels: int, spatial_dims: int) -> nn.Module:
    """The norm of a node op over ``channels`` nodes: ``"batch"``, ``"instance"`` (affine) or None.

    >>> layer = norm_layer("instance", 4, 1)
    >>> type(layer).__name__, layer.affine, layer.weight.shape
    ('InstanceNorm1d', True, torch.Size([4]))
    """
    if norm == "batch":
        return (nn.BatchNorm1d if spatial_dims <= 1 else nn.BatchNorm2d)(channels)
    if norm == "instance":
        if spatial_dims == 0:
            raise ValueError(
                "norm: instance norm needs spatial node states (spatial_dims 1 or 2), "
                "found spatial_dims=0; use norm='batch' or None"
            )
        cls = nn.InstanceNorm1d if spatial_dims == 1 else nn.InstanceNorm2d
        return cls(channels, affine=True)
    if norm is None:
        return nn.Identity()
    raise ValueError(f"norm: expected one of {list(NORMS)}, found {norm!r}")


def depthwise_conv(
    channels: int, spatial_dims: int, kernel_size: int = 3, stride: int = 1
) -> nn.Module:
    """One bias-free convolution per node (``groups=channels``), padding ``kernel_size // 2``.

    Scalar states (``spatial_dims=0``) have no convolution: the identity.

    >>> depthwise_conv(4, 2).weight.shape
    torch.Size([4, 1, 3, 3])
    """
    if spatial_dims == 0:
        if stride != 1:
            raise ValueError(
                f"stride: scalar node states (spatial_dims=0) have no stride, found {stride}"
            )
        return nn.Identity()
    conv = nn.Conv1d if spatial_dims == 1 else nn.Conv2d
    return conv(
        channels,
        channels,
        kernel_size,
        stride=stride,
        padding=kernel_size // 2,
        groups=channels,
        bias=False,
    )


class NormReluConv(nn.Module):
    """``conv(relu(norm(x)))`` over ``channels`` nodes, each node its own channel.

    Parameters
    ----------
    channels : int
        Number of nodes handled together.
    spatial_dims : {0, 1, 2}
        0: scalar neurons, shape (B, c) — no convolution; 1: (B, c, L); 2: (B, c, H, W).
    norm : {"batch", "instance", None}
        Batch norm (running statistics), instance norm (affine, no running statistics) or none.
    kernel_size : int
        Depthwise kernel size (3 as in the paper); padding ``kernel_size // 2``.
    stride : int
        Stride of the depthwise convolution (1 keeps the spatial size; 2 halves it, rounding up,
        as MobileNetV1 does where the resolution drops).
    """

    def __init__(
        self,
        channels: int,
        spatial_dims: int,
        *,
        norm: str | None = "batch",
        kernel_size: int = 3,
        stride: int = 1,
    ) -> None:
        super().__init__()
        self.norm = norm_layer(norm, channels, spatial_dims)
        self.conv = depthwise_conv(channels, spatial_dims, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.relu(self.norm(x)))


def _identity(channels: int, spatial_dims: int) -> nn.Module:
    return nn.Identity()


NODE_OPS: dict[str, Callable[..., nn.Module]] = {
    "norm-relu-conv": NormReluConv,
    "identity": _identity,
}


def make_node_op_factory(
    node_op: str | Callable[[int, int], nn.Module] | None, *, norm: str | None, kernel_size: int
) -> Callable[[int, int], nn.Module]:
    """Resolve the ``node_op`` option of :func:`wiring.compile` to a factory ``(channels, dims)``."""
    if node_op is None or node_op in ("identity", "linear"):
        return _identity
    if node_op in ("norm-relu-conv", "default"):
        if norm not in NORMS:
            raise ValueError(f"norm: expected one of {list(NORMS)}, found {norm!r}")
        return partial(NormReluConv, norm=norm, kernel_size=kernel_size)
    if callable(node_op):
        return node_op
    raise ValueError(
        f"node_op: expected one of {[*NODE_OPS, 'linear']} or a callable (channels, spatial_dims) "
        f"-> nn.Module, found {node_op!r}"
    )
