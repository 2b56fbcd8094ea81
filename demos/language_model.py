"""Demo of the language_model topic: pretrain a tiny GPT on Python's own help pages, sample, fine-tune.

1. the text: the help() pages Python ships in `pydoc_data.topics` (about 465 kB of English about
   Python itself; nothing is downloaded); a few pages are held out for step 4;
2. pretraining: next-token batches from your next_token_batch, your lm_loss, your TinyGPT; the loss
   curve, and the perplexity of unseen pages before and after;
3. generation: your generate at temperature 0 (greedy), 0.8, and with top-k, each with a line on what
   it shows; then a pitfall side by side: the same model trained on unshifted targets (loss near zero,
   a sample that only copies);
4. the pretraining lesson: the held-out pages, a text the model never saw, learnt with the same small
   budget from scratch and from the pretrained weights; their held-out perplexity side by side.

    python -m exercises.language_model [--quick] [--png curves.png]
"""

from __future__ import annotations

import copy
import math
import re
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


def _loop(text: str) -> tuple[str, int] | None:
    """The shortest piece that the end of `text` repeats at least 3 times in a row, and how many times."""
    for period in range(1, 25):
        piece, times = text[-period:], 1
        while text[-period * (times + 1):-period * times or None] == piece:
            times += 1
        if times >= 3 and period * times >= len(text) // 4:
            return piece, times
    return None


def _words(text: str, known: set[str]) -> tuple[int, int]:
    """(words of `text` that occur in the pretraining pages, words of `text`): letters-only words."""
    words = [w for w in re.findall(r"[A-Za-z]{2,}", text)]
    return sum(w in known for w in words), len(words)


def _sample_line(name: str, text: str, prompt: str, known: set[str], blank_share: float = 0.0) -> str:
    """One line after a sample: what it shows, in its own numbers."""
    new = text[len(prompt):]
    real, total = _words(new, known)
    lines = new.split("\n")
    blank = sum(not ln.strip() for ln in lines)
    words = f"{real} of its {total} words occur in the help pages" if total else "it holds no word at all"
    if name.startswith("greedy"):
        loop = _loop(new)
        if loop:
            return (f"  -> greedy takes the likeliest character every time, so once {loop[0]!r} leads back to itself "
                    f"it loops: the end repeats it {loop[1]} times")
        return f"  -> greedy takes the likeliest character every time: no loop in {len(new)} characters; {words}"
    if name.startswith("temperature"):
        pages = f" (in the help pages {blank_share:.0%} of the lines are)" if blank_share else ""
        return (f"  -> sampling draws each character by its probability, newlines and rare ones too: {blank} of "
                f"its {len(lines)} lines are blank{pages}, and {words}")
    return (f"  -> top-k draws only among the {name.split('=')[-1]} likeliest characters, cutting the rare ones "
            f"that make non-words: {words}")


def _copy_pitfall(m, tok, cfg, train_data, device, *, steps, batch_size, n_sample, real_loss) -> dict:
    """The pitfall side by side: the same TinyGPT trained with targets that are the inputs themselves
    (next_token_batch without its shift). Returns its loss and greedy sample."""
    block_size = cfg["block_size"]
    torch.manual_seed(2)
    model = m.TinyGPT(tok.vocab_size, **cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=6e-3, weight_decay=0.01)
    gen = torch.Generator().manual_seed(2)
    model.train()
    running = []
    for _ in range(steps):
        x, _ = m.next_token_batch(train_data, block_size, batch_size, generator=gen)
        loss = m.lm_loss(model(x), x)  # the pitfall: each position's target is the character it already sees
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        running.append(loss.item())
    loss = sum(running[-10:]) / len(running[-10:])
    sample = _sample(m, tok, model, PROMPT, n_sample, device, temperature=0.0)
    print(f"\nThe pitfall, side by side: the same TinyGPT, {steps} steps, but each target is the input character "
          f"itself (no shift by one):\n  training loss {loss:.3f} (the real task's, above: {real_loss:.3f}); "
          f"greedy sample:\n  " + sample.replace("\n", "\n  "))
    copies = sum(a == b for a, b in zip(sample[len(PROMPT) - 1:], sample[len(PROMPT):]))
    if loss < real_loss:
        print(f"  -> a loss {'far ' if loss < real_loss / 2 else ''}below the real task's, and {copies} of its "
              f"{n_sample} generated characters repeat the one before: it learned to copy what it sees, which "
              "predicts nothing; a low training loss proves nothing until the targets are checked")
    else:
        print(f"  -> in {steps} steps its loss is not yet below the real task's; a longer run (without --quick) "
              "drives it towards zero while its samples only copy")
    return {"loss": loss, "sample": sample}


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
    print(f"  -> the loss fell from {losses[0]:.3f} to {losses[-1]:.3f}; a perplexity of {ppl_after:.1f} is a model "
          f"as unsure as a fair pick among {ppl_after:.0f} characters, where it began like one among {ppl_before:.0f}")

    # 3. generation
    known = set(re.findall(r"[A-Za-z]{2,}", pretrain_text))
    page_lines = pretrain_text.split("\n")
    blank_share = sum(not ln.strip() for ln in page_lines) / len(page_lines)
    samples = {}
    for name, kwargs in [("greedy (temperature 0)", {"temperature": 0.0}), ("temperature 0.8", {"temperature": 0.8}),
                         ("top_k=5", {"temperature": 1.0, "top_k": 5})]:
        samples[name] = _sample(m, tok, model, PROMPT, n_sample, device, **kwargs)
        print(f"\n{name}:\n  " + samples[name].replace("\n", "\n  "))
        print(_sample_line(name, samples[name], PROMPT, known, blank_share))
    pitfall = _copy_pitfall(m, tok, cfg, train_data, device, steps=max(10, pre_steps // 5), batch_size=batch,
                            n_sample=n_sample, real_loss=losses[-1])

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
        "pitfall": pitfall,
        "seconds": time.perf_counter() - start,
    }
