"""The two pictures written beside a bundle: reconstructions and the latent space."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def reconstructions(model, data, rows, path, count=8):
    """Originals (top) against reconstructions (bottom), last frame of each observation."""
    rows = rows[:count]
    obs = torch.from_numpy(data.obs[rows].astype(np.float32) / 255.0)
    with torch.no_grad():
        recon = torch.sigmoid(model.decoder(model.encoder(obs)[0])).numpy()
    fig, axes = plt.subplots(2, len(rows), figsize=(1.6 * len(rows), 3.4), squeeze=False)
    for i in range(len(rows)):
        for row, image in ((0, obs[i, -1].numpy()), (1, recon[i, -1])):
            axes[row, i].imshow(image, cmap="gray", vmin=0, vmax=1)
            axes[row, i].axis("off")
    axes[0, 0].set_title("original", fontsize=8, loc="left")
    axes[1, 0].set_title("reconstruction", fontsize=8, loc="left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def latent_space(model, data, rows, path):
    """Encoder means (first two latent axes) coloured by the first true-state component."""
    rows = rows[:2000]
    obs = torch.from_numpy(data.obs[rows].astype(np.float32) / 255.0)
    with torch.no_grad():
        z = model.encoder(obs)[0].numpy()
    colour = data.state[rows, 0] if data.state is not None else np.zeros(len(rows))
    y = z[:, 1] if z.shape[1] > 1 else np.zeros(len(z))
    fig, ax = plt.subplots(figsize=(4.5, 4))
    points = ax.scatter(z[:, 0], y, c=colour, s=4, cmap="viridis")
    fig.colorbar(points, ax=ax, label="true state[0]" if data.state is not None else "no true states")
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_title(f"{model.task} latent space ({model.kind})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
