"""Demo of the language_model topic: pretrain a tiny GPT on Python's own help pages, sample, fine-tune.

1. the text: the help() pages Python ships in `pydoc_data.topics` (about 465 kB of English about
   Python itself; nothing is downloaded); a few pages are held out for step 4;
2. pretraining: next-token batches from your next_token_batch, your lm_loss, your TinyGPT; the loss
   curve, and the perplexity of unseen pages before and after;
3. generation: your generate at temperature 0 (greedy), 0.8, and with top-k;
4. the pretraining lesson: the held-out pages, a text the model never saw, learnt with the same small
   budget from scratch and from the pretrained weights; their held-out perplexity side by side.

    python -m exercises.language_model [--quick] [--png curves.png]
"""

from __future__ import annotations

import copy
import math
import time

import torch

import demos

HELD_OUT_EVERY = 8  # every 8th help page (in sorted order) is kept out of pretraining
PROMPT = "The "


def _corpus() -> tuple[str, str]:
    """(pretraining text, held-out text): the help pages Python ships, split by page."""
    from pydoc_data.topics import topics

    names = sorted(topics)
    held = {name for i, name in enumerate(names) if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1}
    pretrain = "".join(topics[n] for n in names if n not in held)
    heldout = "".join(topics[n] for n in names if n in held)
    return pretrain, heldout


def _train(m, model, data, *, steps, block_size, batch_size, lr, seed, log_every=0):
    """AdamW on random next-token batches, the learning rate decaying linearly to a tenth; returns the mean
    training loss of every `log_every` steps."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    decay = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1.0 - 0.9 * i / steps)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    curve, running = [], []
    for step in range(1, steps + 1):
        x, y = m.next_token_batch(data, block_size, batch_size, generator=gen)
        loss = m.lm_loss(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        decay.step()
        running.append(loss.item())
        if log_every and (step % log_every == 0 or step == steps):
            curve.append(sum(running) / len(running))
            running = []
            bar = "#" * max(1, round(curve[-1] * 8))
            print(f"  step {step:>4}  loss {curve[-1]:.3f}  {bar}")
    return curve


def _sample(m, tok, model, prompt: str, n: int, device, **kwargs) -> str:
    idx = tok.encode(prompt).to(device)[None]  # (1, T0)
    out = m.generate(model, idx, n, generator=torch.Generator(device=device).manual_seed(0), **kwargs)
    return tok.decode(out[0].cpu())


def main(m, *, quick: bool = False, save_png: str | None = None) -> dict:
    device = demos.device()
    start = time.perf_counter()
    if quick:
        cfg = dict(d_model=32, n_heads=4, n_layers=1, block_size=32)
        pre_steps, ft_steps, batch, log_every, n_eval, n_sample = 20, 10, 16, 10, 1_000, 30
    else:
        cfg = dict(d_model=48, n_heads=4, n_layers=2, block_size=32)
        pre_steps, ft_steps, batch, log_every, n_eval, n_sample = 500, 100, 32, 50, 10_000, 200
    block_size = cfg["block_size"]

    # 1. the text
    pretrain_text, heldout_text = _corpus()
    tok = m.CharTokenizer(pretrain_text)
    unknown = sorted(set(heldout_text) - set(tok.chars))
    if unknown:  # characters the pretraining pages never use: replaced by a space, and said so
        heldout_text = "".join(" " if c in unknown else c for c in heldout_text)
    data = tok.encode(pretrain_text).to(device)
    n_val = len(data) // 20  # the last 5% of the pretraining pages: for perplexity only
    train_data, val_data = data[:-n_val], data[-n_val:][:n_eval]
    print(f"Python's help pages: {len(pretrain_text):,} characters to pretrain on, {len(heldout_text):,} held "
          f"out (every {HELD_OUT_EVERY}th page); vocabulary of {tok.vocab_size} characters"
          + (f"; {len(unknown)} held-out character(s) outside it, {unknown}, replaced by spaces" if unknown else ""))

    # 2. pretraining
    torch.manual_seed(0)
    model = m.TinyGPT(tok.vocab_size, **cfg).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    ppl_before = m.perplexity(model, val_data, block_size)
    print(f"\nTinyGPT({cfg}), {n_params:,} parameters on {device}; perplexity of {len(val_data):,} unseen "
          f"characters before training: {ppl_before:.1f} (a uniform guess: {tok.vocab_size})")
    print(f"pretraining: {pre_steps} steps of AdamW, batches of {batch} x {block_size} characters")
    t0 = time.perf_counter()
    losses = _train(m, model, train_data, steps=pre_steps, block_size=block_size, batch_size=batch, lr=6e-3,
                    seed=0, log_every=log_every)
    pre_secs = time.perf_counter() - t0
    ppl_after = m.perplexity(model, val_data, block_size)
    print(f"perplexity after {pre_steps} steps ({pre_secs:.1f}s): {ppl_before:.1f} -> {ppl_after:.2f}")

    # 3. generation
    samples = {}
    for name, kwargs in [("greedy (temperature 0)", {"temperature": 0.0}), ("temperature 0.8", {"temperature": 0.8}),
                         ("top_k=5", {"temperature": 1.0, "top_k": 5})]:
        samples[name] = _sample(m, tok, model, PROMPT, n_sample, device, **kwargs)
        print(f"\n{name}:\n  " + samples[name].replace("\n", "\n  "))

    # 4. the pretraining lesson: a text the model never saw, from scratch vs from the pretrained weights
    held = tok.encode(heldout_text).to(device)
    n_test = len(held) // 5
    held_train, held_test = held[:-n_test], held[-n_test:][:n_eval]
    print(f"\nThe held-out pages: learn {len(held_train):,} characters in {ft_steps} steps, measure on the last "
          f"{len(held_test):,}")
    heldout = {}
    curves = {}
    for name in ("scratch", "finetuned"):
        if name == "scratch":
            torch.manual_seed(1)
            student = m.TinyGPT(tok.vocab_size, **cfg).to(device)
        else:
            student = copy.deepcopy(model)
        heldout[f"{name}_before"] = m.perplexity(student, held_test, block_size)
        curves[name] = _train(m, student, held_train, steps=ft_steps, block_size=block_size, batch_size=batch,
                              lr=6e-3 if name == "scratch" else 2e-3, seed=1, log_every=0)
        heldout[name] = m.perplexity(student, held_test, block_size)
    print(f"  {'start from':<22} {'before':>8} {'after ' + str(ft_steps) + ' steps':>16}")
    print(f"  {'random weights':<22} {heldout['scratch_before']:>8.2f} {heldout['scratch']:>16.2f}")
    print(f"  {'pretrained weights':<22} {heldout['finetuned_before']:>8.2f} {heldout['finetuned']:>16.2f}")
    if heldout["finetuned_before"] < heldout["scratch"]:
        print("  the pretrained model starts where scratch cannot get in this budget: what it learnt about English "
              "and Python carries over to pages it never saw")
    else:
        print("  in this budget scratch catches up with the pretrained model's starting point")

    plt = demos.pyplot() if save_png else None
    if plt is not None:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
        ax1.plot([log_every * (i + 1) for i in range(len(losses))], losses, marker="o")
        ax1.axhline(math.log(tok.vocab_size), color="grey", ls="--", label="log V (uniform)")
        ax1.set_xlabel("step")
        ax1.set_ylabel("training loss")
        ax1.set_title("pretraining on the help pages")
        ax1.legend()
        names = ["random weights", "pretrained"]
        ax2.bar([0, 1], [heldout["scratch_before"], heldout["finetuned_before"]], width=0.35, label="before",
                color="lightgrey")
        ax2.bar([0.35, 1.35], [heldout["scratch"], heldout["finetuned"]], width=0.35,
                label=f"after {ft_steps} steps", color="C0")
        ax2.set_xticks([0.175, 1.175], names)
        ax2.set_yscale("log")
        ax2.set_ylabel("held-out perplexity")
        ax2.set_title("a text never seen in pretraining")
        ax2.legend()
        fig.tight_layout()
        fig.savefig(save_png, dpi=120)
        print(f"\nsaved the curves to {save_png}")

    return {
        "vocab_size": tok.vocab_size,
        "params": n_params,
        "losses": losses,
        "ppl_before": ppl_before,
        "ppl_after": ppl_after,
        "samples": samples,
        "heldout": heldout,
        "seconds": time.perf_counter() - start,
    }
