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
"""

import torch
import torch.nn.functional as F


def bernoulli_nll(logits, target):
    """Per-sample sum over pixels, batch mean."""
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).sum(1).mean()


def losses(model, obs, action, reward, next_obs, beta=1.0, prediction_weight=10.0):
    """The loss terms of one batch (a dict of scalars) and their weighted total."""
    mean, logvar = model.encoder(obs)
    next_mean, next_logvar = model.encoder(next_obs)
    if model.kind == "e2c":
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        predicted, _, _ = model.step(z, action)
        prediction = (((predicted - next_mean) ** 2) / torch.exp(next_logvar)).sum(1).mean() * 0.5
        kl = 0.5 * (mean**2 + torch.exp(logvar) - 1.0 - logvar).sum(1).mean()
    else:
        z = mean
        predicted, _, _ = model.step(z, action)
        prediction = ((predicted - next_mean) ** 2).sum(1).mean()
        kl = torch.zeros((), device=obs.device)
    terms = {
        "reconstruction": bernoulli_nll(model.decoder(z), obs),
        "next_reconstruction": bernoulli_nll(model.decoder(predicted), next_obs),
        "prediction": prediction,
        "reward": ((model.reward(z, action) - reward) ** 2).mean(),
        "kl": kl,
    }
    total = (
        terms["reconstruction"] + terms["next_reconstruction"] + prediction_weight * terms["prediction"]
        + terms["reward"] + beta * terms["kl"]
    )
    return terms, total
