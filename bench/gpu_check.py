"""The one script to run when a GPU is lent (< 4 minutes): the CUDA paths of the finetune loop.

One summary line per check, each `ok`, `refused` (the project said why it cannot run here),
`skipped` (with the reason) or `FAILED`:
  - throughput of a plain fp32 PyTorch loop (the reference) and of the project's Trainer in fp32,
    amp bf16 + channels_last, amp fp16 + channels_last (GradScaler) and bf16 + channels_last +
    compile, each on resnet50 over synthetic data, with its ratio to the plain loop;
  - the memory estimate (engine/train/memory_estimate.py) against torch.cuda.max_memory_allocated
    of one real step, for amp off, bf16 and fp16 (bench/memory_estimate.py's measure_case).
Without a CUDA GPU (or with --cpu) it says so and runs the same checks small on the CPU (resnet18,
64 px, a few steps): compile only with --compile, the memory check for amp off only.
Exits 1 when any check failed.

    python bench/gpu_check.py            # on the GPU (about 2-3 minutes)
    python bench/gpu_check.py --cpu      # smoke run on the CPU (under a minute)
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torchvision
from memory_estimate import measure_case  # bench/ is on sys.path when a bench runs
from torch import nn
from torch.utils.data import Dataset

from engine.errors import BadInput
from engine.train.config import train_config
from engine.train.data import Datasets
from engine.train.events import Events
from engine.train.loop import Trainer


class Synthetic(Dataset):
    """Random images with random labels, made on the fly (no disk, no decode)."""

    def __init__(self, n: int, size: int, classes: int) -> None:
        gen = torch.Generator().manual_seed(0)
        self.images = torch.randn(64, 3, size, size, generator=gen)
        self.labels = torch.randint(0, classes, (n,), generator=gen)
        self.targets = self.labels.tolist()
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.images[i % 64], int(self.labels[i])


class Watch(Events):
    """Notes when each step ended, the last logged loss and the loop's log lines."""

    def __init__(self) -> None:
        self.marks: list[float] = []
        self.lines: list[str] = []
        self.loss = float("nan")

    def log(self, text: str) -> None:
        """Keep the log line (precision and compile say what they did here)."""
        self.lines.append(text)

    def step(self, epoch: int, step: int, steps: int, loss: float) -> None:
        """Keep the recent mean loss."""
        self.loss = loss

    def progress(self, epoch: int, step: int, steps: int) -> None:
        """Note when this step ended."""
        self.marks.append(time.perf_counter())


@dataclass(frozen=True)
class Setup:
    """What every throughput check trains: the model, the data, the device and the sizes."""

    model: str
    data: Datasets
    device: str
    steps: int
    batch: int
    size: int
    workers: int

    @property
    def warm(self) -> int:
        """Steps left out of the timing (the first 10%, at least 1)."""
        return max(1, self.steps // 10)

    def describe(self) -> str:
        """Return the sizes in words, for the summary lines."""
        return f"{self.model} {self.size}px batch {self.batch}, {self.steps} steps"


def plain_loop(setup: Setup) -> float:
    """Return images/s of a plain fp32 PyTorch loop (the reference)."""
    torch.manual_seed(0)
    dev = torch.device(setup.device)
    model = torchvision.models.get_model(setup.model, num_classes=len(setup.data.classes)).to(dev)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loader = torch.utils.data.DataLoader(
        setup.data.train,
        batch_size=setup.batch,
        shuffle=True,
        num_workers=setup.workers,
        pin_memory=dev.type == "cuda",
        drop_last=True,
    )
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    start = 0.0
    for i, (x, y) in enumerate(loader):
        if i == setup.warm:
            synchronize(setup.device)
            start = time.perf_counter()
        x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
        loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        float(loss.detach())  # the project's loop checks every loss for NaN/Inf: same sync here
        if i + 1 == setup.steps:
            break
    synchronize(setup.device)
    return (setup.steps - setup.warm) * setup.batch / (time.perf_counter() - start)


def project_loop(setup: Setup, amp: str, channels_last: bool, compile: bool) -> tuple[float, str]:
    """Train with the project's Trainer as a recipe with these keys would; return images/s and what
    the run showed (its precision, memory format, compile and last loss); raise on a bad run."""
    torch.manual_seed(0)
    model = torchvision.models.get_model(setup.model, num_classes=len(setup.data.classes))
    config = train_config(
        {
            "data": "synthetic",
            "epochs": 1,
            "batch_size": setup.batch,
            "optimizer": "sgd",
            "lr": 0.01,
            "backbone_lr": 0.01,
            "device": setup.device,
            "amp": amp,
            "channels_last": channels_last,
            "compile": compile,
            "workers": setup.workers,
            "log_every": 1,
            "scheduler": "none",
            "diagnostics_every": 0,
        }
    )
    watch = Watch()
    trainer = Trainer(model, config, setup.data, events=watch)
    result = trainer.run()
    synchronize(setup.device)
    if result.status != "done":
        raise RuntimeError(f"the run ended {result.status}: {result.message}")
    weight = next(p for p in trainer.model.parameters() if p.ndim == 4)
    layout = "channels_last" if weight.is_contiguous(memory_format=torch.channels_last) else "contiguous"
    if channels_last and layout != "channels_last":
        raise RuntimeError("channels_last = true, but the conv weights are not channels_last")
    compiled = any(line.startswith("compile: torch.compile") for line in watch.lines)
    if compile and not compiled:
        said = next((line for line in watch.lines if line.startswith("compile = true")), "no compile line")
        raise RuntimeError(f"compile = true did not compile: {said}")
    marks = watch.marks
    rate = (len(marks) - 1 - setup.warm) * setup.batch / (marks[-1] - marks[setup.warm])
    shown = f"{trainer.precision.name}, {layout}{', compiled' if compiled else ''}, loss {watch.loss:.3f}"
    return rate, shown


def synchronize(device: str) -> None:
    """Wait for the GPU's queued work (nothing to wait for on the CPU)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def check(name: str, run: Callable[[], str]) -> bool:
    """Run one check and print its summary line; return False when it failed."""
    started = time.perf_counter()
    try:
        said = run()
    except BadInput as refused:
        print(f"{name}: refused: {refused.what}; {refused.why}", flush=True)
        return True
    except Exception as error:  # one broken check must not hide the others
        print(f"{name}: FAILED: {type(error).__name__}: {error}", flush=True)
        return False
    print(f"{name}: ok: {said} ({time.perf_counter() - started:.0f} s)", flush=True)
    return True


def skipped(name: str, why: str) -> bool:
    """Print that a check was skipped, and why."""
    print(f"{name}: skipped: {why}", flush=True)
    return True


def main() -> None:
    """Run every check, one summary line each; exit 1 when one failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="small smoke run on the CPU")
    parser.add_argument("--compile", action="store_true", help="also compile on the CPU (minutes)")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    cuda = torch.cuda.is_available() and not args.cpu
    device = "cuda" if cuda else "cpu"
    steps = args.steps or (200 if cuda else 6)
    if steps < 3:
        parser.error(f"--steps {steps}: timing needs at least 3 steps (one to warm up, two to time)")
    batch = args.batch or (128 if cuda else 8)
    size = 224 if cuda else 64
    data = Datasets(
        Synthetic(steps * batch, size, 100),
        Synthetic(batch, size, 100),
        [str(i) for i in range(100)],
        "synthetic",
    )
    setup = Setup(
        args.model or ("resnet50" if cuda else "resnet18"), data, device, steps, batch, size, 4 if cuda else 0
    )
    if cuda:
        torch.backends.cudnn.benchmark = True
        print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}", flush=True)
    else:
        torch.set_num_threads(min(torch.get_num_threads(), 2))
        why = "--cpu asked for the CPU" if args.cpu else "no CUDA GPU here"
        print(f"device: cpu ({why}; a small smoke run), torch {torch.__version__}", flush=True)
    rates: dict[str, float] = {}

    def plain() -> str:
        rates["plain"] = plain_loop(setup)
        return f"{setup.describe()}: {rates['plain']:,.0f} img/s"

    def ours(amp: str, channels_last: bool, compile: bool) -> Callable[[], str]:
        def run() -> str:
            rate, shown = project_loop(setup, amp, channels_last, compile)
            ratio = f" ({rate / rates['plain']:.2f}x plain fp32)" if "plain" in rates else ""
            return f"{setup.describe()}: {rate:,.0f} img/s{ratio}; {shown}"

        return run

    results = [
        check("plain PyTorch fp32", plain),
        check("ptm fp32", ours("off", False, False)),
        check("ptm amp bf16 + channels_last", ours("bf16", True, False)),
        check("ptm amp fp16 + channels_last", ours("fp16", True, False)),
    ]
    name = "ptm amp bf16 + channels_last + compile"
    if cuda or args.compile:
        results.append(check(name, ours("bf16", True, True)))
    else:
        results.append(skipped(name, "compiling takes minutes on the CPU (--compile runs it)"))
    peak = "torch.cuda.max_memory_allocated" if cuda else "the CPU allocator's peak"
    dev, memory_batch = torch.device(device), 64 if cuda else batch

    def memory(amp: str) -> Callable[[], str]:
        return lambda: measure_case(setup.model, amp, False, dev, size, memory_batch)

    for amp in ("off", "bf16", "fp16"):
        name = f"memory estimate vs {peak}, amp {amp}"
        if cuda or amp == "off":
            results.append(check(name, memory(amp)))
        else:
            results.append(
                skipped(name, "the CPU run measures amp off only (bench/memory_estimate.py --cpu has all)")
            )
    if not all(results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
