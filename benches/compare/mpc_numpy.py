"""The reference planner's MPC step in numpy, on the same ONNX networks through onnxruntime.

The loop of the PC3 reference planner (docs/tasks.md, "The reference planner"):
encode the observation, then for each of 6 initial action sequences (3 uniform random, 3 random
bang-bang) up to 4 iLQR iterations on J = sum_t (z_t - z_g)' Q (z_t - z_g) + u_t' R u_t, with
mu = 1e-5 on Q_uu doubled on failure (give up above 10) and a line search alpha = 1 halved down
to 1e-4, accepted on a cost decrease; the best candidate's first action is applied. Dynamics are
called once per time step (batch 1) as the reference does; Jacobians are central differences,
all 2 (n + m) points of one time step in one call. Actions are clipped to the limits. The
dynamics run on the model cut down to z_next (onnxruntime runs every node whatever outputs a
call asks for, and a bundle's dynamics may also output its Jacobians), as zplan does.

Usage: python mpc_numpy.py --bundle DIR --task TASK --data BUFFER --out OUT.json [--steps N]
The observations are the first N rows of the buffer's obs.npy, the goal image its last row.
"""

import argparse
import json
import os
import time

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402

REFERENCE = {  # task: (horizon, q)
    "planar": (10, 10.0),
    "swing": (10, 50.0),
    "balance": (10, 50.0),
    "cartpole": (5, 100.0),
    "threepole": (20, 50.0),
}
ITERATIONS, CANDIDATES, MU_INIT, MU_MAX, ALPHA_MIN, STEP = 4, 6, 1e-5, 10.0, 1e-4, 1e-3


def z_next_model(path, inputs, output):
    """The model at `path` with only the output `output` and the nodes it needs."""
    model = onnx.load(path)
    if [o.name for o in model.graph.output] != [output]:
        model = onnx.utils.Extractor(model).extract_model(list(inputs), [output])
    return model


class Networks:
    def __init__(self, bundle):
        with open(os.path.join(bundle, "zplan.json")) as f:
            manifest = json.load(f)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")

        def session(model):
            return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

        enc, dyn = manifest["encoder"], manifest["dynamics"]
        self.enc_in, self.enc_out = enc["input"], enc["output"]
        self.z_in, self.u_in, self.z_out = dyn["state_input"], dyn["action_input"], dyn["output"]
        self.dynamics_model = z_next_model(os.path.join(bundle, dyn["file"]), (self.z_in, self.u_in), self.z_out)
        self.encoder = session(os.path.join(bundle, enc["file"]))
        self.dynamics = session(self.dynamics_model.SerializeToString())
        self.low = np.asarray(manifest["action"]["low"])
        self.high = np.asarray(manifest["action"]["high"])
        self.nz, self.nu = manifest["latent_dim"], manifest["action"]["dim"]

    def encode(self, obs):
        x = obs[None].astype(np.float32) / 255.0
        return self.encoder.run([self.enc_out], {self.enc_in: x})[0][0].astype(np.float64)

    def step(self, z, u):
        feed = {self.z_in: np.atleast_2d(z).astype(np.float32), self.u_in: np.atleast_2d(u).astype(np.float32)}
        return self.dynamics.run([self.z_out], feed)[0].astype(np.float64)

    def jacobian(self, z, u):
        """[A B] at (z, u) by central differences, one batched call."""
        n, m = self.nz, self.nu
        eye = np.eye(n + m) * STEP
        points = np.concatenate([eye, -eye]) + np.concatenate([z, u])
        out = self.step(points[:, :n], points[:, n:])
        return ((out[: n + m] - out[n + m :]) / (2 * STEP)).T


def rollout(net, z0, us):
    zs = np.empty((len(us) + 1, net.nz))
    zs[0] = z0
    for t, u in enumerate(us):
        zs[t + 1] = net.step(zs[t], u)[0]
    return zs


def cost(zs, us, zg, q):
    d = zs - zg
    return q * np.sum(d * d) + np.sum(us * us)


def ilqr(net, z0, zg, us, q):
    horizon, n, m = len(us), net.nz, net.nu
    zs = rollout(net, z0, us)
    j = cost(zs, us, zg, q)
    mu = MU_INIT
    for _ in range(ITERATIONS):
        jac = [net.jacobian(zs[t], us[t]) for t in range(horizon)]
        while True:  # backward pass, mu doubled until every Q_uu is positive definite
            v_x, v_xx = 2 * q * (zs[-1] - zg), 2 * q * np.eye(n)
            ks, kk = np.empty((horizon, m)), np.empty((horizon, m, n))
            ok = True
            for t in reversed(range(horizon)):
                a, b = jac[t][:, :n], jac[t][:, n:]
                q_x = 2 * q * (zs[t] - zg) + a.T @ v_x
                q_u = 2 * us[t] + b.T @ v_x
                q_xx = 2 * q * np.eye(n) + a.T @ v_xx @ a
                q_uu = 2 * np.eye(m) + b.T @ v_xx @ b + mu * np.eye(m)
                q_ux = b.T @ v_xx @ a
                try:
                    chol = np.linalg.cholesky(q_uu)
                except np.linalg.LinAlgError:
                    ok = False
                    break
                solve = lambda rhs: np.linalg.solve(chol.T, np.linalg.solve(chol, rhs))  # noqa
                ks[t], kk[t] = -solve(q_u), -solve(q_ux)
                v_x = q_x + kk[t].T @ q_uu @ ks[t] + kk[t].T @ q_u + q_ux.T @ ks[t]
                v_xx = q_xx + kk[t].T @ q_uu @ kk[t] + kk[t].T @ q_ux + q_ux.T @ kk[t]
                v_xx = 0.5 * (v_xx + v_xx.T)
            if ok:
                break
            mu *= 2
            if mu > MU_MAX:
                return zs, us, j
        alpha, improved = 1.0, False
        while alpha >= ALPHA_MIN:
            new_zs, new_us = np.empty_like(zs), np.empty_like(us)
            new_zs[0] = z0
            for t in range(horizon):
                new_us[t] = np.clip(us[t] + alpha * ks[t] + kk[t] @ (new_zs[t] - zs[t]), net.low, net.high)
                new_zs[t + 1] = net.step(new_zs[t], new_us[t])[0]
            new_j = cost(new_zs, new_us, zg, q)
            if new_j < j:
                zs, us, j, improved = new_zs, new_us, new_j, True
                break
            alpha *= 0.5
        if not improved:
            mu *= 2
            if mu > MU_MAX:
                break
    return zs, us, j


def mpc_step(net, obs, zg, q, horizon, rng):
    z0 = net.encode(obs)
    best = None
    for c in range(CANDIDATES):
        if c < CANDIDATES // 2:
            us = rng.uniform(net.low, net.high, size=(horizon, net.nu))
        else:
            us = np.where(rng.random((horizon, net.nu)) < 0.5, net.low, net.high)
        _, us, j = ilqr(net, z0, zg, us.astype(np.float64), q)
        if best is None or j < best[1]:
            best = (us, j)
    return best[0][0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--task", required=True, choices=sorted(REFERENCE))
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()

    horizon, q = REFERENCE[args.task]
    obs = np.load(os.path.join(args.data, "obs.npy"), mmap_mode="r")
    net = Networks(args.bundle)
    zg = net.encode(np.asarray(obs[-1]))
    rng = np.random.default_rng(0)
    mpc_step(net, np.asarray(obs[0]), zg, q, horizon, rng)  # warm-up
    samples = []
    for i in range(args.steps):
        o = np.asarray(obs[i % (len(obs) - 1)])
        start = time.perf_counter()
        action = mpc_step(net, o, zg, q, horizon, rng)
        samples.append((time.perf_counter() - start) * 1e6)
        assert np.all(np.isfinite(action))
    result = {
        "task": args.task,
        "steps": len(samples),
        "step_us_median": float(np.median(samples)),
        "step_us_p10": float(np.percentile(samples, 10)),
        "step_us_p90": float(np.percentile(samples, 90)),
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(
        f"numpy reference MPC step on {args.task}: median {result['step_us_median'] / 1e3:.1f} ms"
        f" over {len(samples)} steps"
    )


if __name__ == "__main__":
    main()
