"""Networks of the latent models, per task.

Three model kinds:
- ``deterministic``: encoder g(o) = z, residual dynamics z' = z + f([z, u]), decoder, reward;
- ``e2c``: a Gaussian (VAE) encoder q(z | o) = N(mu(o), diag sigma^2(o)) and Embed to Control's
  locally linear dynamics z' = A(z) z + B(z) u + o(z), A = I + v r';
- ``pc3``: PC3's deterministic encoder and Gaussian residual transition
  p(z' | z, u) = N(z + f_mu([z, u]), diag exp(2 f_logstd([z, u]))), trained without a decoder
  (prediction by contrastive estimation); the decoder and reward are fitted on the frozen latent
  so that the bundle still carries them. The planner uses the transition's mean.
Every dynamics has `jacobians(z, u)`: z' with its exact derivatives dz'/dz [B, nz, nz] and
dz'/du [B, nz, nu] in closed form (matrix products, so that they export to ONNX beside z').
Per-task sizes follow PCC / PC3: latent 2 / 3 / 3 / 8 / 8, MLP encoders for planar and the
pendulum, convolutional ones for cartpole and threepole (kept small enough that a bundle stays
under 5 MB).
"""

import torch
from torch import nn

from .config import ModelKind

# Per task: latent size, encoder kind and MLP width (PCC / PC3's sizes). The task's own facts
# (image, action limits, time step) are in tasks.py.
ARCHITECTURES = {
    "planar": dict(latent=2, encoder="mlp", hidden=128),
    "swing": dict(latent=3, encoder="mlp", hidden=100),
    "balance": dict(latent=3, encoder="mlp", hidden=100),
    "cartpole": dict(latent=8, encoder="conv", hidden=128),
    "threepole": dict(latent=8, encoder="conv", hidden=128),
}


def chain_jacobian(layers, x):
    """y = layers(x) and dy/dx [B, n, k] at the rows of x [B, k], for a chain of Linear, Tanh and
    ReLU modules: dy/dx = W_L D_{L-1} W_{L-1} ... D_1 W_1 with D_l = diag(activation'), multiplied
    from the output side (n <= k here: the latent is narrower than the hidden layers)."""
    factors = []  # (weight [n, k], None) or (None, diagonals [B, k])
    for layer in layers:
        if isinstance(layer, nn.Linear):
            factors.append((layer.weight, None))
            x = layer(x)
        elif isinstance(layer, nn.Tanh):
            x = torch.tanh(x)
            factors.append((None, 1.0 - x * x))
        elif isinstance(layer, nn.ReLU):
            factors.append((None, (x > 0).to(x.dtype)))
            x = torch.relu(x)
        else:
            raise TypeError(f"no closed-form Jacobian for {type(layer).__name__}")
    jacobian = None
    for weight, diagonal in reversed(factors):
        if weight is not None:
            jacobian = weight.expand(x.shape[0], -1, -1) if jacobian is None else jacobian @ weight
        else:
            jacobian = torch.diag_embed(diagonal) if jacobian is None else jacobian * diagonal.unsqueeze(1)
    return x, jacobian


def _conv_out(size):
    for _ in range(3):
        size = (size - 5) // 2 + 1
    return size


class Encoder(nn.Module):
    """obs [B, C, H, W] in [0, 1] -> mean [B, nz] (and log-variance for e2c)."""

    def __init__(self, shape, latent, kind, hidden, gaussian):
        super().__init__()
        c, h, w = shape
        out = latent * (2 if gaussian else 1)
        if kind == "mlp":
            self.net = nn.Sequential(
                nn.Flatten(),
                nn.Linear(c * h * w, hidden),
                nn.ReLU(),
                nn.Linear(hidden, hidden),
                nn.ReLU(),
                nn.Linear(hidden, out),
            )
        else:
            k = _conv_out(h) * _conv_out(w)
            self.net = nn.Sequential(
                nn.Conv2d(c, 32, 5, 2),
                nn.ReLU(),
                nn.Conv2d(32, 32, 5, 2),
                nn.ReLU(),
                nn.Conv2d(32, 32, 5, 2),
                nn.ReLU(),
                nn.Flatten(),
                nn.Linear(32 * k, hidden),
                nn.ReLU(),
                nn.Linear(hidden, out),
            )
        self.latent, self.gaussian = latent, gaussian

    @torch.no_grad()
    def rescale(self, obs, std):
        """Scales the last layer so that the latent mean over the images `obs` is centred with
        spread `std` in each component: z_i <- k_i (z_i - m_i), k_i = std / s_i, from the mean
        m_i and standard deviation s_i of z_i over `obs`."""
        z = self(obs)[0]
        k = std / z.std(0).clamp_min(1e-12)
        last = self.net[-1]
        last.weight[: self.latent] *= k[:, None]
        last.bias[: self.latent] = k * (last.bias[: self.latent] - z.mean(0))

    def forward(self, obs):
        out = self.net(obs)
        if not self.gaussian:
            return out, None
        return out[:, : self.latent], out[:, self.latent :].clamp(-8.0, 4.0)


class Decoder(nn.Module):
    """z [B, nz] -> logits [B, C, H, W]."""

    def __init__(self, shape, latent, kind, hidden):
        super().__init__()
        c, h, w = shape
        self.shape = shape
        if kind == "mlp":
            self.net = nn.Sequential(
                nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, c * h * w)
            )
            self.deconv = None
        else:
            self.base = (h // 8, w // 8)
            self.net = nn.Sequential(
                nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, 32 * self.base[0] * self.base[1]), nn.ReLU()
            )
            self.deconv = nn.Sequential(
                nn.ConvTranspose2d(32, 32, 4, 2, 1),
                nn.ReLU(),
                nn.ConvTranspose2d(32, 32, 4, 2, 1),
                nn.ReLU(),
                nn.ConvTranspose2d(32, c, 4, 2, 1),
            )

    def forward(self, z):
        c, h, w = self.shape
        out = self.net(z)
        if self.deconv is None:
            return out.reshape(-1, c, h, w)
        return self.deconv(out.reshape(-1, 32, self.base[0], self.base[1]))


class ResidualDynamics(nn.Module):
    """z' = z + f([z, u])."""

    def __init__(self, latent, actions, hidden=64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent + actions, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, latent),
        )

    def forward(self, z, u):
        return z + self.net(torch.cat([z, u], dim=1))

    def jacobians(self, z, u):
        """(z', dz'/dz, dz'/du): [I 0] + df/d[z, u]."""
        nz = z.shape[1]
        f, jacobian = chain_jacobian(self.net, torch.cat([z, u], dim=1))
        return z + f, jacobian[:, :, :nz] + torch.eye(nz, dtype=z.dtype), jacobian[:, :, nz:]


class GaussianResidualDynamics(nn.Module):
    """p(z' | z, u) = N(z + mean([z, u]), diag std^2([z, u])); forward returns (mean, log std)."""

    def __init__(self, latent, actions, hidden=64):
        super().__init__()
        self.hidden = nn.Sequential(
            nn.Linear(latent + actions, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh()
        )
        self.mean = nn.Linear(hidden, latent)
        self.logstd = nn.Linear(hidden, latent)

    def forward(self, z, u):
        h = self.hidden(torch.cat([z, u], dim=1))
        return z + self.mean(h), self.logstd(h).clamp(-6.0, 2.0)

    def jacobians(self, z, u):
        """(z' = the mean, dz'/dz, dz'/du): [I 0] + dmean/d[z, u]."""
        nz = z.shape[1]
        mean, jacobian = chain_jacobian([*self.hidden, self.mean], torch.cat([z, u], dim=1))
        return z + mean, jacobian[:, :, :nz] + torch.eye(nz, dtype=z.dtype), jacobian[:, :, nz:]


class LocallyLinearDynamics(nn.Module):
    """z' = A(z) z + B(z) u + o(z), A = I + v r' (Embed to Control); returns (z', A, B)."""

    def __init__(self, latent, actions, hidden=64):
        super().__init__()
        self.latent, self.actions = latent, actions
        self.trunk = nn.Sequential(nn.Linear(latent, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        self.v = nn.Linear(hidden, latent)
        self.r = nn.Linear(hidden, latent)
        self.b = nn.Linear(hidden, latent * actions)
        self.o = nn.Linear(hidden, latent)
        for head in (self.v, self.r, self.b, self.o):
            nn.init.normal_(head.weight, std=0.01)
            nn.init.zeros_(head.bias)

    def forward(self, z, u):
        h = self.trunk(z)
        eye = torch.eye(self.latent, dtype=z.dtype, device=z.device)
        a = eye + self.v(h).unsqueeze(2) * self.r(h).unsqueeze(1)
        b = self.b(h).reshape(-1, self.latent, self.actions)
        z_next = (a @ z.unsqueeze(2)).squeeze(2) + (b @ u.unsqueeze(2)).squeeze(2) + self.o(h)
        return z_next, a, b

    def jacobians(self, z, u):
        """(z', dz'/dz, dz'/du). With h = trunk(z), H = dh/dz [B, hidden, nz] and A = I + v r':
        dz'/dz = A + v (z' W_r H) + ((r.z) W_v + sum_j u_j W_b[:, j] + W_o) H, dz'/du = B(z);
        A and B themselves are the model's own linearisation, not dz'/dz."""
        h, trunk = chain_jacobian(self.trunk, z)
        z_next, a, b = self.forward(z, u)
        v, r = self.v(h), self.r(h)
        hidden = h.shape[1]
        w_b = self.b.weight.reshape(self.latent, self.actions, hidden)
        heads = (r * z).sum(1)[:, None, None] * self.v.weight + torch.einsum("ijh,bj->bih", w_b, u) + self.o.weight
        through_r = (z.unsqueeze(1) @ (self.r.weight @ trunk)).squeeze(1)
        dz = a + v.unsqueeze(2) * through_r.unsqueeze(1) + heads @ trunk
        return z_next, dz, b


class Reward(nn.Module):
    """r(z, u) -> [B]."""

    def __init__(self, latent, actions, hidden=64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent + actions, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, z, u):
        return self.net(torch.cat([z, u], dim=1)).squeeze(1)


class LatentModel(nn.Module):
    """Encoder, dynamics, decoder and reward of one task."""

    def __init__(self, task, kind, shape, actions, transition=64):
        super().__init__()
        if task not in ARCHITECTURES:
            raise ValueError(f"unknown task {task!r}; tasks are {', '.join(ARCHITECTURES)}")
        kind = ModelKind(kind)
        spec = ARCHITECTURES[task]
        self.task, self.kind, self.shape, self.actions = task, kind, tuple(shape), actions
        self.latent = spec["latent"]
        gaussian = kind == ModelKind.E2C
        self.encoder = Encoder(self.shape, self.latent, spec["encoder"], spec["hidden"], gaussian)
        self.decoder = Decoder(self.shape, self.latent, spec["encoder"], spec["hidden"])
        if kind == ModelKind.E2C:
            self.dynamics = LocallyLinearDynamics(self.latent, actions, transition)
        elif kind == ModelKind.PC3:
            self.dynamics = GaussianResidualDynamics(self.latent, actions, transition)
        else:
            self.dynamics = ResidualDynamics(self.latent, actions, transition)
        self.reward = Reward(self.latent, actions)

    def jacobians(self, z, u):
        """(z', dz'/dz [B, nz, nz], dz'/du [B, nz, nu]), z' the mean for pc3."""
        return self.dynamics.jacobians(z, u)

    def step(self, z, u):
        """z' (the mean for pc3), and A, B for the locally linear model (else None)."""
        out = self.dynamics(z, u)
        if self.kind == ModelKind.E2C:
            return out
        if self.kind == ModelKind.PC3:
            return out[0], None, None
        return out, None, None
