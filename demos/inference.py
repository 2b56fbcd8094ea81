"""Demo of inference: one digits classifier with Dropout and BatchNorm, run the wrong way and the right way.

1. The same test images, predicted twice in training mode (under no_grad: the bug) and twice with
   `predict`: train mode changes answers from run to run, eval mode never does.
2. Inference in training mode on a skewed stream of requests (only images of one digit) drags the
   BatchNorm running statistics away; the eval accuracy drops, and `update_bn_stats` on the
   training data repairs it.
3. MC dropout (`mc_dropout_predict`) on real digits and on noise images: the spread over the passes
   is an uncertainty signal, larger where the model has never seen anything alike.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from demos import device as pick_device
from demos import pyplot
from kata.learn.data import batches, digits


def _model() -> nn.Sequential:
    return nn.Sequential(
        nn.Flatten(), nn.Linear(64, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10)
    )


def _train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float = 0.05) -> None:
    """Plain minibatch SGD (written out: it is all this demo needs), leaving the model in train mode."""
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(y), device=x.device)
        for xb, yb in batches(x[perm], y[perm], 32):
            if len(yb) < 2:  # BatchNorm needs two samples in training mode
                continue
            loss = nn.functional.cross_entropy(model(xb), yb)
            grads = torch.autograd.grad(loss, list(model.parameters()))
            with torch.no_grad():
                for p, g in zip(model.parameters(), grads):
                    p -= lr * g


def _accuracy(m, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return (m.predict(model, x).argmax(1) == y).float().mean().item()


def main(m, *, quick: bool = False, save_png: str | None = None) -> dict:
    torch.manual_seed(0)
    dev = pick_device()
    x_train, y_train = (t.to(dev) for t in digits("train"))
    x_test, y_test = (t.to(dev) for t in digits("test"))
    model = _model().to(dev)
    epochs = 3 if quick else 15
    _train(model, x_train, y_train, epochs)  # leaves the model in training mode, as a training loop does
    acc = _accuracy(m, model, x_test, y_test)
    print(f"a {sum(p.numel() for p in model.parameters()):,}-parameter MLP (BatchNorm, Dropout 0.5) trained "
          f"{epochs} epochs on {len(y_train)} digits on {dev}: test accuracy {acc:.3f} with predict\n")

    # ---------------------------------------------------------------- 1. the same input, run after run
    print("1. the same test images, predicted twice")
    wrong = copy.deepcopy(model).train()  # the bug: no_grad, but still in training mode
    with torch.no_grad():
        train_runs = [wrong(x_test) for _ in range(2)]
    eval_runs = [m.predict(model, x_test) for _ in range(2)]
    train_changed = (train_runs[0].argmax(1) != train_runs[1].argmax(1)).float().mean().item()
    eval_changed = (eval_runs[0].argmax(1) != eval_runs[1].argmax(1)).float().mean().item()
    train_acc = (train_runs[0].argmax(1) == y_test).float().mean().item()
    print(f"   train mode + no_grad : {train_changed:6.1%} of the answers change between two runs, "
          f"accuracy {train_acc:.3f}")
    print(f"   predict (eval)       : {eval_changed:6.1%} change, accuracy {acc:.3f}")
    first = x_test[:1]
    with torch.no_grad():
        p_train = [wrong(torch.cat([first, x_test[1:16]]))[0].softmax(0) for _ in range(5)]
    p_eval = m.predict(model, first)[0].softmax(0)
    label = y_test[0].item()
    print(f"   P(true class {label}) for test image 0 (in a batch of 16), five train-mode runs: "
          + " ".join(f"{p[label].item():.3f}" for p in p_train) + f"; predict: {p_eval[label].item():.3f}\n")

    # ---------------------------------------------------------------- 2. BatchNorm statistics drift
    print("2. serving a stream of requests in training mode moves BatchNorm's statistics")
    bn = model[2]
    served = copy.deepcopy(model).train()
    ones = x_test[y_test == 1]
    n_requests = 10 if quick else 50
    before = bn.running_mean.clone()
    with torch.no_grad():
        for _ in range(n_requests):
            served(ones[torch.randperm(len(ones), device=dev)[:16]])
    drift = ((served[2].running_mean - before).norm() / before.norm()).item()
    print(f"   {n_requests} batches of 16 images of '1' in train mode: running_mean moved by {drift:.0%} "
          f"(relative L2), num_batches_tracked {int(bn.num_batches_tracked)} -> "
          f"{int(served[2].num_batches_tracked)}")
    served.eval()
    acc_drift = _accuracy(m, served, x_test, y_test)
    m.update_bn_stats(served, batches(x_train, y_train, 128), device=dev)
    acc_fixed = _accuracy(m, served, x_test, y_test)
    print(f"   test accuracy in eval mode: {acc:.3f} before, {acc_drift:.3f} after the drift, "
          f"{acc_fixed:.3f} after update_bn_stats on the training set")
    print("   (recomputed for the final weights: the statistics kept during training averaged the activations "
          "of weights that were still changing)\n")

    # ---------------------------------------------------------------- 3. MC dropout uncertainty
    print("3. MC dropout: the spread of softmax probabilities over stochastic passes")
    probs = nn.Sequential(model, nn.Softmax(dim=1))
    n_samples = 10 if quick else 50
    noise = torch.rand(len(y_test), 1, 8, 8, device=dev)
    mean_d, std_d = m.mc_dropout_predict(probs, x_test, n_samples=n_samples)
    mean_n, std_n = m.mc_dropout_predict(probs, noise, n_samples=n_samples)
    # the spread of the probability of the class each image is predicted as, per image
    spread_d = std_d.gather(1, mean_d.argmax(1, keepdim=True)).squeeze(1)
    spread_n = std_n.gather(1, mean_n.argmax(1, keepdim=True)).squeeze(1)
    print(f"   {n_samples} passes; std of the top class's probability, averaged over images:")
    for name, spread, mean in (("test digits ", spread_d, mean_d), ("noise images", spread_n, mean_n)):
        top = mean.max(1).values.mean().item()
        print(f"   {name}: {spread.mean().item():.4f}   (mean top probability {top:.3f})")
    bn_untouched = torch.equal(bn.running_mean, before)
    print(f"   BatchNorm running statistics unchanged by MC dropout: {bn_untouched}")
    d, n = spread_d.mean().item(), spread_n.mean().item()
    print(f"   -> the passes disagree {n / d:.1f} times as much on noise ({n:.4f}) as on digits ({d:.4f}): "
          + ("the spread flags inputs unlike anything the model trained on" if n > d else
             "here the spread does not single out the noise"))

    plt = pyplot() if save_png else None
    if plt is not None:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
        ax1.plot(range(1, 6), [p[label].item() for p in p_train], "o-", label="train mode + no_grad")
        ax1.axhline(p_eval[label].item(), color="k", linestyle="--", label="predict (eval)")
        ax1.set(xlabel="run", ylabel=f"P(class {label})", title="same image, five runs")
        ax1.legend()
        bins = torch.linspace(0, max(spread_d.max().item(), spread_n.max().item()), 30).tolist()
        ax2.hist(spread_d.cpu().numpy(), bins=bins, alpha=0.6, label="test digits")
        ax2.hist(spread_n.cpu().numpy(), bins=bins, alpha=0.6, label="noise images")
        ax2.set(xlabel="MC-dropout std of the top probability", ylabel="images", title="uncertainty")
        ax2.legend()
        fig.tight_layout()
        fig.savefig(save_png, dpi=120)
        print(f"   figure saved to {save_png}")

    return {
        "acc_eval": acc,
        "acc_train_mode": train_acc,
        "train_changed_fraction": train_changed,
        "eval_changed_fraction": eval_changed,
        "bn_drift": drift,
        "acc_after_drift": acc_drift,
        "acc_after_update_bn": acc_fixed,
        "mc_std_digits": spread_d.mean().item(),
        "mc_std_noise": spread_n.mean().item(),
        "mc_bn_untouched": bn_untouched,
    }
