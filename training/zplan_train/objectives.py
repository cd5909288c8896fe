"""The training objectives (model-based RL with images, deterministic encoder):

    maximise  log p(g(o_{t+1}) | g(o_t), u_t) + log p(o_t | g(o_t)) + log p(r_t | g(o_t))

as losses, summed over pixels / latent dimensions and averaged over the batch:

- reconstruction: Bernoulli negative log-likelihood of o_t from z_t, and of o_{t+1} from the
  predicted z_{t+1} (this second term keeps the latent from collapsing: the prediction must
  still carry the image);
- prediction: || g(o_{t+1}) - f(g(o_t), u_t) ||^2 (deterministic) or, for e2c, the squared
  Mahalanobis distance of the predicted mean under q(z_{t+1} | o_{t+1});
- reward: squared error of r(z_t, u_t);
- e2c only: KL(q(z_t | o_t) || N(0, I)), weighted by `beta`.

With a prediction horizon H > 1 (`multistep_losses`, deterministic kind) the dynamics is
rolled out H steps from z_t = g(o_t) through u_t .. u_{t+H-1}, and the prediction and
next-reconstruction terms are averaged over the H predicted states z_{t+k} against g(o_{t+k})
and o_{t+k}: an action's effect on one frame is under a pixel for the pendulum, but it
accumulates over the steps a 10-step plan looks ahead.

The ``pc3`` kind (`pc3_losses`) replaces reconstruction by PC3's objective (Shu, Nguyen et al.
2020), with z = g(o_t), z' = g(o_{t+1}) + 0.1 N(0, I) and p = p(. | z, u) the Gaussian
transition:

- NCE: -mean_i log[ p(z'_i | z_i, u_i) / (1/B sum_j p(z'_i | z_j, u_j)) ], the batch's other
  transitions as negatives;
- consistency: -mean_i log p(z'_i | z_i, u_i);
- curvature: E || f(z + e_z, u + e_u) - f(z, u) - J_z e_z - J_u e_u ||^2, e ~ N(0, 0.1^2 I),
  with z held fixed (it shapes the transition towards local linearity, not the encoder);
- centre: || mean_i z_i ||^2;
weighted 1 / 1 / 7 / 0.1 as in the reference. The decoder and reward are fitted on the detached
latent with the Bernoulli and squared-error terms above, so they never move the encoder.
"""

import math

import torch
import torch.nn.functional as F

from .config import ModelKind


def bernoulli_nll(logits, target):
    """Per-sample sum over pixels, batch mean."""
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).sum(1).mean()


def losses(model, obs, action, reward, next_obs, beta=1.0, prediction_weight=10.0):
    """The loss terms of one batch of transitions (a dict of scalars) and their weighted total."""
    if model.kind != ModelKind.E2C:
        return multistep_losses(model, obs, action[:, None], reward, next_obs[:, None], prediction_weight)
    mean, logvar = model.encoder(obs)
    next_mean, next_logvar = model.encoder(next_obs)
    z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
    predicted, _, _ = model.step(z, action)
    terms = {
        "reconstruction": bernoulli_nll(model.decoder(z), obs),
        "next_reconstruction": bernoulli_nll(model.decoder(predicted), next_obs),
        "prediction": (((predicted - next_mean) ** 2) / torch.exp(next_logvar)).sum(1).mean() * 0.5,
        "reward": ((model.reward(z, action) - reward) ** 2).mean(),
        "kl": 0.5 * (mean**2 + torch.exp(logvar) - 1.0 - logvar).sum(1).mean(),
    }
    total = (
        terms["reconstruction"]
        + terms["next_reconstruction"]
        + prediction_weight * terms["prediction"]
        + terms["reward"]
        + beta * terms["kl"]
    )
    return terms, total


def multistep_losses(model, obs, actions, reward, next_obs, prediction_weight=10.0):
    """The deterministic kind's terms over windows of H steps (H = 1: single transitions):
    actions [B, H, nu], next_obs [B, H, C, H, W] (o_{t+1} .. o_{t+H}), reward [B] of the first
    step."""
    batch, horizon = actions.shape[:2]
    z = model.encoder(obs)[0]
    targets = model.encoder(next_obs.flatten(0, 1))[0].reshape(batch, horizon, -1)
    predicted, state = [], z
    for k in range(horizon):
        state = model.step(state, actions[:, k])[0]
        predicted.append(state)
    predicted = torch.stack(predicted, 1)
    terms = {
        "reconstruction": bernoulli_nll(model.decoder(z), obs),
        "next_reconstruction": bernoulli_nll(model.decoder(predicted.flatten(0, 1)), next_obs.flatten(0, 1)),
        "prediction": ((predicted - targets) ** 2).sum(2).mean(),
        "reward": ((model.reward(z, actions[:, 0]) - reward) ** 2).mean(),
    }
    total = (
        terms["reconstruction"]
        + terms["next_reconstruction"]
        + prediction_weight * terms["prediction"]
        + terms["reward"]
    )
    return terms, total


def pc3_losses(
    model, obs, action, reward, next_obs, latent_noise=0.1, delta=0.1, curvature_weight=7.0, centre_weight=0.1
):
    """PC3's loss terms of one batch (a dict of scalars) and their weighted total."""
    z = model.encoder(obs)[0]
    z_next = model.encoder(next_obs)[0]
    z_next = z_next + latent_noise * torch.randn_like(z_next)
    mean, logstd = model.dynamics(z, action)
    # log p(z'_i | z_j, u_j) for every pair (i, j): [B, B].
    scaled = (z_next[:, None, :] - mean[None, :, :]) * torch.exp(-logstd)[None, :, :]
    log_p = (-0.5 * scaled**2 - logstd[None, :, :] - 0.5 * math.log(2.0 * math.pi)).sum(2)
    positive = log_p.diagonal()
    nce = -(positive - torch.logsumexp(log_p, dim=1) + math.log(len(z))).mean()
    consistency = -positive.mean()

    z_fixed, u_fixed = z.detach().requires_grad_(True), action.detach().requires_grad_(True)
    e_z, e_u = delta * torch.randn_like(z_fixed), delta * torch.randn_like(u_fixed)

    def transition_mean(z_in, u_in):
        return model.dynamics(z_in, u_in)[0]

    f, linear = torch.autograd.functional.jvp(transition_mean, (z_fixed, u_fixed), (e_z, e_u), create_graph=True)
    curvature = ((transition_mean(z_fixed + e_z, u_fixed + e_u) - f - linear) ** 2).sum(1).mean()
    centre = (z.mean(0) ** 2).sum()

    z_frozen = z.detach()
    terms = {
        "nce": nce,
        "consistency": consistency,
        "curvature": curvature,
        "centre": centre,
        "reconstruction": bernoulli_nll(model.decoder(z_frozen), obs),
        "reward": ((model.reward(z_frozen, action) - reward) ** 2).mean(),
    }
    total = (
        nce
        + consistency
        + curvature_weight * curvature
        + centre_weight * centre
        + terms["reconstruction"]
        + terms["reward"]
    )
    return terms, total
