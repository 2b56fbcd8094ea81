"""Every failure teaches (issue 19): a raw exception from the learner's code or from inside torch is
named with its call, tensors and likely cause; a demo whose exercise fails says so in one line; a
check failing inside an except block shows the lesson, not the error it caught."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from kata.core import manifest
from kata.maintain import mutants

ROOT = manifest.ROOT


def _pytest(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env={**os.environ, "KATA_NO_STATE": "1"})
    return proc.stdout + proc.stderr


def _solution_with(tmp_path: Path, topic: str, old: str, new: str) -> Path:
    text = (ROOT / "solutions" / f"{topic}.py").read_text()
    assert text.count(old) == 1, old
    (tmp_path / f"{topic}.py").write_text(text.replace(old, new))
    return tmp_path


def test_an_error_inside_torch_is_named_with_its_call_tensors_and_likely_cause(tmp_path):
    folder = _solution_with(tmp_path, "tensors", "    return t.numel() * t.element_size()",
                            "    return (torch.ones(2, 999) @ t.reshape(-1, 1).float()).numel() * t.element_size()")
    out = _pytest("tests/test_tensors.py", f"--impl-dir={folder}", "--kata-exercise=tensors.tensor_nbytes", "-x")
    failure = out.split("= FAILURES =")[1].split("kata progress")[0]
    assert "[tensors.tensor_nbytes] RuntimeError raised in your code: mat1 and mat2 shapes" in failure, failure
    assert f"the call: {folder / 'tensors.py'}:" in failure and "(torch.ones(2, 999) @ t" in failure, failure
    assert re.search(r"with: t \([\d, ]+\) \w+", failure), failure
    assert "likely: two shapes that do not line up" in failure, failure
    assert "Traceback" not in failure and "site-packages" not in failure, failure


def test_a_bare_assert_or_exception_without_the_line_is_counted_as_untaught(tmp_path):
    junit = tmp_path / "junit.xml"
    junit.write_text(
        '<testsuites><testsuite>'
        '<testcase name="a"><failure message="AssertionError: [tensors.move_to] moved batch: wrong"/></testcase>'
        '<testcase name="b"><failure message="IndexError: Dimension out of range"/></testcase>'
        '<testcase name="c"><failure message="[tensors.nonexistent] made up"/></testcase>'
        '<testcase name="d"/></testsuite></testsuites>')
    assert [line.split(":")[0] for line in mutants.untaught(junit, "tensors")] == ["b", "c"]


def test_a_check_failing_inside_an_except_block_shows_only_the_lesson(tmp_path):
    mutant = ROOT / "mutants" / "autograd" / "silu_backward_missing_sigmoid_derivative.py"
    (tmp_path / "autograd.py").write_text(mutant.read_text())
    out = _pytest("tests/test_autograd.py", f"--impl-dir={tmp_path}", "-k", "silu_passes_gradcheck")
    assert "[autograd.SiLU] torch.autograd.gradcheck(silu, float64 x) failed" in out, out
    assert "During handling of the above exception" not in out and "Numerical:" not in out, out


def test_a_demo_whose_exercise_fails_reports_one_line(tmp_path):
    folder = _solution_with(tmp_path, "tensors", "    return t.numel() * t.element_size()", "    return t.numel()")
    out = _pytest("tests/test_tensors.py", f"--impl-dir={folder}", "-k", "tensor_nbytes or demo")
    demo = [block for block in out.split("\n_") if re.match(r"_* test_demo", block)]
    assert demo, out
    lines = [ln for ln in demo[0].split("kata progress")[0].splitlines()[1:-1] if ln.strip()]
    assert lines == ["[tensors.demo] the demo needs tensors.tensor_nbytes, which fails on its own tests: fix it first"
                     ], demo[0]


def test_a_one_d_mask_on_torchs_attention_is_taught(tmp_path):
    folder = _solution_with(
        tmp_path, "attention",
        "        out, _ = scaled_dot_product_attention(q, k, v, mask)  # (B, H, T, d_head), scaled by sqrt(d_head)",
        "        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)")
    out = _pytest("tests/test_attention.py", f"--impl-dir={folder}", "-k", "broadcastable_mask")
    assert "1 failed, 3 passed" in out, out
    assert "[attention.MultiHeadSelfAttention] raised IndexError" in out and "mask (5,) bool" in out, out
    assert "hand it mask.view(1, -1)" in out, out


def _first_failure(out: str) -> str:
    return out.split("= FAILURES =")[1].split("kata progress")[0]


def test_the_bug_hunts_first_failure_shows_the_symptom_in_numbers_not_the_fix():
    out = _pytest("tests/test_training_loop.py", "--kata-exercise=training_loop.train_one_epoch", "-x")
    first = _first_failure(out)
    assert re.search(r"step 2: \d+\.\d+ vs \d+\.\d+", first), first
    out2 = _pytest("tests/test_inference.py", "--kata-exercise=inference.predict", "-x")
    second = _first_failure(out2)
    assert re.search(r"came back as \[.*\] and then as \[", second), second
    for text in (first + out.split("kata progress")[1], second + out2.split("kata progress")[1]):
        lowered = text.lower()
        assert not any(w in lowered for w in ("zero_grad", "reset the gradients", "eval()", "model.eval")), text
        assert "nox -s hint --" in text


def _collected(*args: str) -> set[str]:
    out = _pytest("--collect-only", "-q", *args)
    return {ln.strip() for ln in out.splitlines() if "::" in ln}


def test_k_with_an_exercise_name_selects_exactly_that_exercises_tests():
    for qualname in ("language_model.lm_loss", "language_model.TinyGPT", "inference.mc_dropout_predict"):
        topic, name = qualname.split(".")
        exact = _collected(f"tests/test_{topic}.py", f"--kata-exercise={qualname}")
        assert exact, qualname
        assert _collected(f"tests/test_{topic}.py", "-k", name) == exact, qualname


def test_an_exercise_whose_tests_all_need_cuda_is_never_done_here(tmp_path):
    import torch

    from kata.learn import reset

    (tmp_path / "production.py").write_text((ROOT / "solutions" / "production.py").read_text())
    reset.reset("production.peak_memory_bytes", tmp_path)  # the untouched stub
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests/test_production.py",
                           f"--impl-dir={tmp_path}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    line = next(ln for ln in proc.stdout.splitlines() if " production " in ln and "[" in ln)
    progress = subprocess.run([sys.executable, "-m", "kata.learn.progress", f"--impl-dir={tmp_path}"], cwd=ROOT,
                              capture_output=True, text=True, timeout=120).stdout
    status = next(ln for ln in progress.splitlines() if "peak_memory_bytes" in ln)
    if torch.cuda.is_available():
        assert "not implemented yet" in status, status
    else:
        assert line.rstrip().endswith("not checked here (needs CUDA): peak_memory_bytes"), line
        assert "done" not in line and "done" not in status, (line, status)
        assert status.split(None, 1)[1] == "not checked here (needs CUDA)", status


def _watch_once(*args: str) -> str:
    """What a watch printed up to the end of its first run."""
    proc = subprocess.Popen([sys.executable, "-m", "kata.learn.watch", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "KATA_NO_STATE": "1"})
    seen = ""
    try:
        while "rerun finished" not in seen and proc.poll() is None:
            seen += proc.stdout.readline()
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    return seen


def test_the_watch_shows_one_failing_test_in_a_screen_and_takes_x_k_and_kata_exercise(tmp_path):
    folder = tmp_path  # a wrong implementation that fails exactly one test
    (folder / "tensors.py").write_text((ROOT / "mutants" / "tensors" / "tensor_nbytes_counts_storage.py").read_text())
    screen = _watch_once("tensors", f"--impl-dir={folder}")
    run = screen.split("watch: running")[1]
    assert "platform " not in run and "rootdir" not in run and "timeout" not in run, run
    assert "1 failed" in run and len(run.splitlines()) <= 25, run
    selected = _watch_once("tensors", f"--impl-dir={folder}", "-x", "-k", "tensor_nbytes")
    assert "stopping after 1 failures" in selected and "a selection:" in selected, selected
    exact = _watch_once(f"--impl-dir={folder}", "--kata-exercise=tensors.module_nbytes")
    assert "running tensors" in exact and "a selection:" in exact and "1 failed" not in exact, exact


def test_hint_takes_every_name_the_stub_list_prints():
    import ast

    from kata.learn import hint

    for topic in manifest.topic_names():
        tree = ast.parse((ROOT / "exercises" / f"{topic}.py").read_text())
        raised = [n.exc.args[0].value for n in ast.walk(tree)
                  if isinstance(n, ast.Raise) and isinstance(n.exc, ast.Call)
                  and getattr(n.exc.func, "id", "") == "NotImplementedError" and n.exc.args
                  and isinstance(n.exc.args[0], ast.Constant)]
        for message in raised:
            name = message.split(":")[0]
            assert hint.resolve(name).topic == topic, name
    assert hint.resolve("autograd.silu").qualname == "autograd.SiLU"
    assert hint.resolve("production.load_checkpoint").qualname == "production.save_checkpoint"


def test_hint_again_rereads_without_revealing_more(tmp_path):
    env = {**os.environ, "KATA_STATE_DIR": str(tmp_path)}

    def hint(*args: str) -> str:
        return subprocess.run([sys.executable, "-m", "kata.learn.hint", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=60, env=env).stdout

    assert "hint 1/" in hint("autograd.silu")
    again = hint("autograd.SiLU", "--again")
    assert "hint 1/" in again and "hint 2/" not in again, again
    assert "hint 2/" in hint("autograd.SiLU")


def test_the_edition_offers_nothing_it_cannot_run(tmp_path):
    from kata.maintain import release

    dest = tmp_path / "edition"
    proc = subprocess.run([sys.executable, "-m", "kata.maintain.release", str(dest)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert release.edition_problems(dest) == []
    demo = dest / "demos" / "tensors.py"
    demo.write_text(demo.read_text() + "\n# compare: python -m solutions.tensors\n")
    (dest / "solutions").mkdir()  # --help offers --solutions where the folder exists
    found = release.edition_problems(dest)
    assert any(p.startswith("demos/tensors.py:") for p in found), found
    assert any("pytest --help" in p for p in found), found


def test_the_demos_lines_say_what_their_numbers_show():
    from demos import language_model, training_loop

    assert language_model._loop("The the the the the the") == (" the", 5)
    assert language_model._loop("The cat sat on a mat") is None
    greedy = language_model._sample_line("greedy (temperature 0)", "The the the the the the", "The", {"the"})
    assert "' the'" in greedy and "5 times" in greedy, greedy
    sampled = language_model._sample_line("temperature 0.8", "The \n\n\nzzq the", "The", {"the"})
    assert "3 of its 4 lines are blank" in sampled and "1 of its 2 words" in sampled, sampled
    line = training_loop._compare_line([1.5, 0.5, 0.3], [1.7, 2.1, 2.2])
    assert "worse from epoch 1 (1.700 against 1.500)" in line and "rises from 1.700 to 2.200" in line, line
    assert "look faster" not in line and "ahead" not in line, line
    ahead = training_loop._compare_line([1.5, 0.5], [1.2, 2.1])
    assert "ahead in epoch 1" in ahead and "worse from epoch 2" in ahead, ahead
    history = [{"epoch": 1, "train_loss": 1.0, "val_loss": 0.5}, {"epoch": 2, "train_loss": 0.5, "val_loss": 0.6}]
    fit = training_loop._fit_line(history, history[0], 0.6)
    assert "lowest at epoch 1" in fit and "the best weights were not put back" in fit, fit


def test_a_class_whose_stub_is_a_method_shows_its_own_nudge(tmp_path):
    (tmp_path / "efficiency.py").write_text((ROOT / "exercises" / "efficiency.py").read_text())
    out = _pytest("tests/test_efficiency.py", "-q", f"--impl-dir={tmp_path}")
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("efficiency.KVCache "))
    assert "waits for" not in line and "start with no keys and no values" in line, line


def test_columns_line_up_for_every_name_of_the_manifest(tmp_path):
    for topic in ("attention", "training_loop"):
        (tmp_path / f"{topic}.py").write_text((ROOT / "exercises" / f"{topic}.py").read_text())
    out = _pytest("tests/test_attention.py", "tests/test_training_loop.py", "-q", f"--impl-dir={tmp_path}")
    block = out.split("not implemented yet (")[1].split("kata progress")[0]
    counts = {ln.split()[0]: ln.index(" test(s)") for ln in block.splitlines() if " test(s)" in ln}
    assert "attention.sinusoidal_positional_encoding" in counts, block
    assert len(set(counts.values())) == 1, block  # every count in one column, the longest name's too
    env = {**os.environ, "KATA_STATE_DIR": str(tmp_path / "state")}
    for args in (("tests/test_attention.py",), ("tests/test_training_loop.py",)):
        subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args,
                        f"--impl-dir={tmp_path}"], cwd=ROOT, capture_output=True, timeout=300, env=env)
    progress = subprocess.run([sys.executable, "-m", "kata.learn.progress", f"--impl-dir={tmp_path}"], cwd=ROOT,
                              capture_output=True, text=True, timeout=60, env=env).stdout
    starts = {ln.split()[0]: ln.index(ln.split()[1], len(ln) - len(ln.lstrip()) + len(ln.split()[0]))
              for ln in progress.splitlines() if ln.startswith("     ")}
    assert {"sinusoidal_positional_encoding", "train_with_accumulation"} <= starts.keys(), progress
    assert len(set(starts.values())) == 1, progress


def test_an_exercises_own_cause_comes_before_the_general_one(tmp_path):
    folder = _solution_with(tmp_path, "language_model",
                            "    return F.cross_entropy(flat_logits, flat_targets, ignore_index=ignore_index)",
                            "    return F.cross_entropy(logits, targets, ignore_index=ignore_index)")
    out = _pytest("tests/test_language_model.py", f"--impl-dir={folder}", "--kata-exercise=language_model.lm_loss",
                  "-x")
    failure = _first_failure(out)
    assert "[language_model.lm_loss] RuntimeError inside torch, in a call your code made" in failure, failure
    assert "likely: cross_entropy takes (N, V) logits with (N,) targets" in failure, failure
