"""An independent reference for ``formulation="original"``: the authors' tiny classifiers, re-typed.

Written from the description of allenai/dnw's ``models/graphs/neuralgraph.py`` (facts: layer
order, names, shapes), generalised to small sizes, with dense ``n × n`` matrices and none of this
package's code. Their state-dict names are kept, so ``ReferenceNet.state_dict()`` is what their
checkpoints hold. The in-place ReLU of their continuous model is optional (``inplace_relu``) so a
test can show what it does to the solver's state.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def make_downsample(in_channels: int, dim: int) -> nn.Sequential:
    half = dim // 2
    return nn.Sequential(
        nn.Conv2d(in_channels, half, 3, stride=2, padding=1),
        nn.BatchNorm2d(half),
        nn.ReLU(),
        nn.Conv2d(half, half, 3, stride=2, padding=1, groups=half),
        nn.Conv2d(half, dim, 1),
        nn.BatchNorm2d(dim),
    )


def their_head(out: torch.Tensor, feature_dim: int, image_size: int) -> torch.Tensor:
    """Slice [half-1, half+2) of the last feature_dim channels, AvgPool2d(2), flatten."""
    half = (image_size // 4) // 2 - 1
    sl = out[:, -feature_dim:, half - 1 : half + 2, half - 1 : half + 2]
    return F.avg_pool2d(sl, 2).reshape(-1, feature_dim)


class ReferenceNet(nn.Module):
    """setting: 'discrete', 'continuous' or 'static'; graph: 'dnw', 'random' or 'dnw_no_update'.

    ``k`` is the number of entries kept by the top-|w| rule over all n² entries (as theirs).
    """

    def __init__(
        self,
        setting: str,
        *,
        dim: int,
        downsample_dim: int,
        feature_dim: int,
        layers: int,
        block: int,
        k: int,
        image_size: int = 16,
        in_channels: int = 3,
        classes: int = 10,
        graph: str = "dnw",
        inplace_relu: bool = False,
        t1_steps: tuple[float, str, float] | None = None,
    ) -> None:
        super().__init__()
        self.setting, self.dim, self.k, self.kind = setting, dim, k, graph
        self.downsample_dim, self.feature_dim, self.layers = downsample_dim, feature_dim, layers
        self.image_size, self.inplace_relu = image_size, inplace_relu
        self.ode = t1_steps or (1.0, "dopri5", 1e-3)
        self.downsample = make_downsample(in_channels, downsample_dim)
        conv = nn.Conv2d(dim, dim, 3, padding=1, bias=False, groups=dim)
        gconv = nn.Conv2d(dim, dim, 1, bias=False)
        holder = nn.Module()
        holder.conv, holder.graph = conv, nn.Module()
        holder.graph.weight = gconv.weight
        if graph in ("random", "dnw_no_update"):
            mask = torch.zeros(dim * dim)
            mask[torch.randperm(dim * dim)[:k]] = 1.0
            if graph == "dnw_no_update":
                mask = torch.ones(dim * dim)
            holder.graph.register_buffer("mask", mask.view(dim, dim, 1, 1))
        if setting == "static":
            self.sizes = [downsample_dim] + [block] * ((dim - downsample_dim) // block)
            if (dim - downsample_dim) % block:
                self.sizes.append((dim - downsample_dim) % block)
            holder.norm = nn.ModuleList(nn.InstanceNorm2d(s, affine=True) for s in self.sizes)
            self.layers = len(self.sizes)
        else:
            holder.norm = nn.InstanceNorm2d(dim, affine=True)
        if setting == "continuous":
            self.odesolve = nn.Module()
            self.odesolve.odefunc = holder
        else:
            self.conv, self.graph, self.norm = holder.conv, holder.graph, holder.norm
        self.holder = [holder]
        self.fc = nn.Linear(feature_dim, classes)
        side = image_size // 4
        self.register_buffer("zeros", torch.zeros(1, dim - downsample_dim, side, side))

    def effective(self) -> torch.Tensor:
        g = self.holder[0].graph
        w = g.weight
        if self.kind == "random":
            return w * g.mask
        flat = w.flatten().abs()
        keep = torch.zeros_like(flat)
        keep[flat.topk(self.k).indices] = 1.0
        kept = w * keep.view_as(w)
        if self.kind == "dnw_no_update":  # zeroed entries get no gradient
            return kept
        return w + (kept - w).detach()  # DNW: top-k forward, the gradient reaches every entry

    def _field(self, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        h = self.holder[0]
        z = F.relu(y, inplace=self.inplace_relu)
        z = h.conv(z)
        return h.norm(F.conv2d(z, w))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat(
            (self.downsample(x), self.zeros.expand(x.shape[0], *self.zeros.shape[1:])), dim=1
        )
        w = self.effective()
        if self.setting == "discrete":
            for _ in range(self.layers):
                x = self._field(x, w)
        elif self.setting == "continuous":
            import torchdiffeq

            t1, method, tol = self.ode
            t = torch.tensor([0.0, t1])
            x = torchdiffeq.odeint(
                lambda t, y: self._field(y, w), x, t, rtol=tol, atol=tol, method=method
            )[-1]
        else:
            x = self._static(x, w)
            return self.fc(their_head(x, self.feature_dim, self.image_size))
        return self.fc(their_head(x, self.feature_dim, self.image_size))

    def _static(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        h = self.holder[0]
        rng = [0]
        for s in self.sizes:
            rng.append(rng[-1] + s)
        first_out = self.dim - self.feature_dim
        for i, s in enumerate(self.sizes):
            act = F.relu(h.norm[i](x[:, :s]))
            act = F.conv2d(act, h.conv.weight[rng[i] : rng[i + 1]], padding=1, groups=s)
            act = F.conv2d(act, w[min(rng[i + 1], first_out) :, rng[i] : rng[i + 1]])
            x = x[:, s:] + act if i < len(self.sizes) - 1 else x[:, -self.feature_dim :] + act
        return x
