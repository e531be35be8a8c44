"""The training panel: F5 starts a run, a thread worker follows its events, the panel shows progress and the loss
curve, and when the run is done the new adapter is swapped into the running engine and compared before/after.

The trainer is its own process in its own session: quitting the app stops only the watching, never the run, and
a reopened app finds the run again (`live_run`) and takes over where the last one left off."""

from __future__ import annotations

import threading
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import var
from textual.widgets import Label, ProgressBar, Sparkline

from tuitune.data.prompts import trained_prompts as fallback_prompts
from tuitune.errors import TuituneError
from tuitune.generation import BASE
from tuitune.textsafe import one_line
from tuitune.training import NothingToTrain, RunHandle
from tuitune.training.config import read_heldout
from tuitune.training.launcher import RunBusy
from tuitune.training.measure import summary
from tuitune.training.verdict import agreement_line, harmed
from tuitune.tui.errors import ReportsWorkerErrors, notify_unexpected, unexpected
from tuitune.tui.host import Host
from tuitune.tui.keys import Chat
from tuitune.tui.screens.dialogs import ConfirmScreen
from tuitune.tui.training.compare import Comparison, compare_prompts
from tuitune.tui.training.dialogs import (
    BeforeAfterScreen,
    TrainOptionsScreen,
    TrainRequest,
)

# Store setting: the run this app (or an earlier one) was following and has not swapped in yet; a run that ended
# while no app watched it is swapped in at the next start.
PENDING = "tui_pending_run"
HIDE_AFTER_S = 12.0
AB_ROUNDS = 3  # held-out prompts the blind A/B from the panel's end asks about
AB_NEW = Chat.AB_NEW


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class TrainingPanel(ReportsWorkerErrors, Vertical):
    # F5's face follows these: "Train", or "Train (0 new)" dimmed (`nothing_new`, for the screen's check_action).
    state = var("idle", bindings=True)  # idle | starting | running | swapping | done | failed | cancelled
    nothing_judged = var(False, bindings=True)  # nothing judged since the last run that finished (or ever)

    class Started(Message):
        def __init__(self, handle: RunHandle, elsewhere: bool = False) -> None:
            super().__init__()
            self.handle, self.elsewhere = handle, elsewhere  # elsewhere: a run another client started

    class NotStarted(Message):
        def __init__(self, text: str, severity: str) -> None:
            super().__init__()
            self.text, self.severity = text, severity

    class RunEvent(Message):
        def __init__(self, run_id: int, event: dict[str, Any]) -> None:
            super().__init__()
            self.run_id, self.event = run_id, event

    class Compared(Message):
        def __init__(self, rows: list[Comparison], before: str, after: str, seconds: float) -> None:
            super().__init__()
            self.rows, self.before, self.after, self.seconds = rows, before, after, seconds

    class SwappedIn(Message):
        """The run's adapter is live, after `seconds`; its before/after comes next."""

        def __init__(self, name: str, seconds: float) -> None:
            super().__init__()
            self.name, self.seconds = name, seconds

    class SwapFailed(Message):
        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    class Ended(Message):
        """The run reached its end (live, held back, failed or cancelled): what counts since the last run may change."""

    class Judged(Message):
        def __init__(self, nothing_new: bool) -> None:
            super().__init__()
            self.nothing_new = nothing_new

    class Summary(Message):
        """One short line for the status bar ("" clears it): what training is doing, for when the panel is hidden."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, host: Host, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.host = host
        self.services = host.services
        self.handle: RunHandle | None = None
        self.losses: list[float] = []
        self.cancel_asked = False
        self.started_seen = False  # the trainer said "start": its SIGTERM handler is in place
        self.closing = threading.Event()  # the app is going: watchers and comparisons stop; the run does not
        self.last_comparison: TrainingPanel.Compared | None = None
        self.measured = ""  # the finished run's agreement, checks and behaviour, in one line
        self.harmed = False  # its checks fell by more than the margin
        self.ab_line = ""  # the user's blind picks between the new adapter and the one before it
        self.new_adapter = ""  # the finished run's adapter, live or held back: what ctrl+b compares
        self.promoted_because = ""  # train.promote's reason, when the adapter went live

    def compose(self) -> ComposeResult:
        yield Label("", id="training-title", markup=False)
        with Horizontal(id="training-row"):
            yield ProgressBar(total=None, show_eta=False, id="training-bar")
            yield Label("", id="training-stats", markup=False)
        with Horizontal(id="training-curve"):
            yield Label("", id="training-lossval", markup=False)
            yield Sparkline([], id="training-loss")
        yield Label("", id="training-effect", markup=False)
        yield Label("", id="training-decision", markup=False)
        yield Label("", id="training-hint", markup=False)

    def on_mount(self) -> None:
        self.display = False
        self.recount()
        store = self.services.store
        handle = self.services.training.live()  # fails runs whose trainer died, then finds a live one
        if handle is not None:
            self._begin(handle, "reattached to")
            return
        pending = store.get_setting(PENDING)
        if pending and pending.isdigit():
            store.set_setting(PENDING, None)
            run = store.run(int(pending))
            if run.status == "done" and run.adapter_id is not None:
                adapter = store.adapter_by_id(run.adapter_id)
                if adapter.deleted_at is None and run.run_dir:
                    self.handle, self.state = self.services.training.attach(run.id), "swapping"
                    self._show_title(f"run {run.id} finished while tuitune was closed")
                    self.display = True
                    self._effect(run.metrics or {})
                    self.new_adapter = adapter.name
                    if run.promotion == "held_back":
                        self._held_back(adapter.name, run.promotion_reason or "")
                        return
                    self.promoted_because = run.promotion_reason or ""
                    self._stats(f"{adapter.name} · swapping it in…")
                    self._hint("ctrl+r hide")
                    self._swap_in(adapter.name, self._prompts(self.handle))

    def on_unmount(self) -> None:
        self.closing.set()

    # ---- keys ------------------------------------------------------------------------------------------------
    @property
    def live(self) -> bool:
        return self.state in ("starting", "running", "swapping")

    @property
    def nothing_new(self) -> bool:
        """No run is live and nothing was judged since the last run that finished well: F5 would train on what that
        run had. F5 shows dimmed then, and still trains when pressed (or says why it cannot)."""
        return self.nothing_judged and not self.live

    def recount(self) -> None:
        """Count the judgements since the last run again (after a judgement, or a run's end)."""
        self._count_judged()

    @work(thread=True, exit_on_error=False, exclusive=True, group="judged-since-run")
    def _count_judged(self) -> None:
        store = self.services.store
        try:
            runs = store.runs()
            settled = not runs or runs[0].status == "done"  # after a failed or cancelled run, F5 tries again
            nothing_new = settled and store.judgements_since_last_run() == 0
        except TuituneError:  # a busy store: F5 keeps its face until the next count
            return
        self.post_message(self.Judged(nothing_new))

    @on(Judged)
    def judged(self, event: Judged) -> None:
        self.nothing_judged = event.nothing_new

    @on(Ended)
    def recount_after_run(self) -> None:
        self.recount()

    def train_key(self, request: TrainRequest | None = None) -> None:
        """F5: train with auto; while a run is live, offer to cancel it."""
        if self.state == "running":
            self.ask_cancel()
        elif self.live:
            self._say("a run is starting or being swapped in; wait a moment", "warning")
        else:
            self.start(request or TrainRequest())

    def ask_options(self) -> None:
        if self.live:
            self.train_key()
            return
        try:
            method, reason = self.services.training.choose_method()
            hint = f"auto would pick {method}: {reason}"
        except TuituneError as exc:  # nothing judged yet, say so in the dialog
            hint = f"auto: {exc}"
        except Exception as exc:  # a bug: logged and shown, and the dialog still opens
            notify_unexpected(self.app, exc, "choosing a method")
            hint = "auto: could not tell what it would pick"

        def chosen(request: TrainRequest | None) -> None:
            if request is not None:
                self.train_key(request)

        self.app.push_screen(TrainOptionsScreen(self.services.settings.train, hint), chosen)

    def ask_cancel(self) -> None:
        if self.state != "running" or self.handle is None:
            self._say("no training run to cancel", "warning")
            return
        run_id = self.handle.run_id

        def answered(yes: bool | None) -> None:
            if yes and self.handle is not None and self.handle.run_id == run_id and self.state == "running":
                self.cancel_run()

        self.app.push_screen(
            ConfirmScreen(f"Cancel training run {run_id}? Nothing is saved.", "Cancel run (y)", "Keep training (n)"),
            answered,
        )

    def cancel_run(self) -> None:
        if self.handle is None:
            return
        self.cancel_asked = True
        self._hint("cancelling… (the trainer stops within a step or two)")
        if self.started_seen or self.handle.job_id:  # the server cancels a job that has not started yet itself
            self.handle.cancel()
        # else: sent when the trainer says "start", once it can catch the signal and mark the run cancelled

    def toggle(self) -> None:
        if self.state == "idle" and not self.display:
            self._say("no training run yet: F5 trains on your judgements")
            return
        self.display = not self.display

    def show_comparison(self) -> None:
        shown = self.last_comparison
        if shown is None:
            self._say("no before/after yet: it comes when a run finishes")
            return
        self.app.push_screen(BeforeAfterScreen(shown.rows, shown.before, shown.after, shown.seconds, self.measured))

    def ab_plan(self) -> tuple[str, str | None, list[int]]:
        """(the last run's adapter, the model live before it (None: the base), its held-out user turns) for the
        blind A/B from the panel's end; TuituneError says why there is none."""
        store = self.services.store
        adapter = store.adapter(self.new_adapter) if self.new_adapter and not self.live else None
        if adapter is None or self.handle is None:
            raise TuituneError("no finished run to compare yet: F5 trains one")
        before = store.adapter_by_id(adapter.parent_id).name if adapter.parent_id is not None else None
        turns = sorted({int(u["turn_id"]) for u in read_heldout(self.handle.run_dir)})
        if not turns:
            raise TuituneError("this run had no held-out prompts to compare on; F9 compares on any turn")
        return adapter.name, before, turns[:AB_ROUNDS]

    def ab_verdict(self, name: str, before: str | None) -> str:
        """The user's own verdict so far: the new adapter's blind picks against the one before it."""
        store = self.services.store
        adapter = store.adapter(name)
        other = store.adapter(before) if before else None
        if adapter is None:
            return ""
        wins, losses, draws = store.head_to_head(adapter.id, other.id if other else None)
        games = wins + losses + draws
        self.ab_line = f"your A/B: {name} won {wins} of {games} against {before or BASE}" if games else ""
        self._show_effect()
        return self.ab_line

    # ---- starting and following ------------------------------------------------------------------------------
    def start(self, request: TrainRequest) -> None:
        method = request.method or self.services.settings.train.method
        request = TrainRequest(method, request.overrides)
        self.state = "starting"
        self._reset()
        self._show_title(f"planning a training run ({method})…")
        self._hint("")
        self.display = True
        self._start(request)

    @work(thread=True, exit_on_error=False, group="training")
    def _start(self, request: TrainRequest) -> None:
        engine = self.services.engine
        info = getattr(engine, "info", None)
        try:
            handle = self.services.training.start(
                request.method or self.services.settings.train.method,
                request.overrides,
                template_fingerprint=getattr(engine, "template_fingerprint", "") or None,
                base_model=info.name if info is not None else None,
                parent_adapter=getattr(engine, "active_adapter", None),
            )
        except NothingToTrain as exc:
            self.post_message(self.NotStarted(f"nothing to train on: {exc}", "warning"))
            return
        except RunBusy as exc:  # another terminal's run: follow that one
            running = self.services.training.live()
            self.post_message(self.Started(running, True) if running else self.NotStarted(str(exc), "warning"))
            return
        except TuituneError as exc:  # bad settings, a missing model: all for the user to read
            self.post_message(self.NotStarted(f"training could not start: {exc}", "error"))
            return
        except Exception as exc:  # a bug, or a tokenizer that does not load: logged, and the panel resets
            self.post_message(self.NotStarted(unexpected(self.app, exc, "starting the training run"), "error"))
            return
        self.post_message(self.Started(handle))

    @on(NotStarted)
    def not_started(self, event: NotStarted) -> None:
        self.state = "idle"
        self.display = False
        self._say(event.text, event.severity)

    @on(Started)
    def started(self, event: Started) -> None:
        if event.elsewhere:
            self._begin(event.handle, "following")
            self._say(f"run {event.handle.run_id} is training already (started elsewhere): following it")
            return
        self._begin(event.handle, "training")
        self._say(f"training {event.handle.method}: {event.handle.reason}")

    def _begin(self, handle: RunHandle, verb: str) -> None:
        self.handle, self.state = handle, "running"
        self._reset()
        self.services.store.set_setting(PENDING, str(handle.run_id))
        method = handle.method.upper() if handle.method else "?"
        self._show_title(f"{verb} run {handle.run_id} · {method} · {handle.reason or ''}")
        self._stats("starting the trainer…")
        self._hint("F5 cancel · ctrl+r hide")
        self.display = True
        self._follow(handle)

    @work(thread=True, exit_on_error=False, group="training")
    def _follow(self, handle: RunHandle) -> None:
        for event in handle.events(poll_s=0.25, stop=self.closing):
            self.post_message(self.RunEvent(handle.run_id, event))

    @on(RunEvent)
    def run_event(self, message: RunEvent) -> None:
        if self.handle is None or message.run_id != self.handle.run_id:
            return
        event, kind = message.event, message.event.get("event")
        if kind in ("start", "phase", "progress") and not self.started_seen:
            self.started_seen = True
            if self.cancel_asked:
                self.handle.cancel()
        if kind == "start":
            self._stats(f"{event.get('examples', '?')} examples · loading the base model…")
        elif kind == "phase":
            self._phase(event)
        elif kind == "progress":
            self._progress(event)
        elif kind == "measure":
            self._measuring(event)
        elif kind == "done":
            self._done(event)
        elif kind == "cancelled":
            self._ended("cancelled", f"run {self.handle.run_id} cancelled; no adapter was saved", "warning")
        elif kind == "error":
            text = f"run {self.handle.run_id} failed: {event.get('message', '')}"
            if event.get("suggestion"):
                text += f" — {event['suggestion']}"
            self._ended("failed", text, "error")

    def _phase(self, event: dict[str, Any]) -> None:
        name = event.get("name")
        if name == "load":
            self._stats("loading the base model…")
        elif name == "prepare":
            self._stats(f"preparing {event.get('rows', '?')} examples…")
        elif name == "train":
            total = event.get("total") or None
            self.query_one(ProgressBar).update(total=total, progress=0)
            self._stats(f"training: step 0/{total or '?'}…")
        elif name == "measure":
            self.query_one(ProgressBar).update(total=None, progress=0)
            self._stats("measuring: your held-out judgements and the check questions…")
        elif name == "save":
            self._stats("saving the adapter…")

    def _progress(self, event: dict[str, Any]) -> None:
        step, total = int(event.get("step", 0)), event.get("total") or None
        self.query_one(ProgressBar).update(total=total, progress=step)
        loss = event.get("loss")
        if isinstance(loss, (int, float)):
            self.losses.append(float(loss))
            self.query_one(Sparkline).data = list(self.losses)
        parts = [
            f"step {step}/{total or '?'}",
            f"ETA {duration(event.get('eta_s'))}",
            f"{event.get('tokens_per_s', 0):.0f} tok/s",
        ]
        if event.get("memory_mb"):
            parts.append(f"{event['memory_mb']:.0f} MB")
        self._stats(" · ".join(parts))
        if self.losses:
            trend = f" (from {self.losses[0]:.2f})" if len(self.losses) > 1 else ""
            self.query_one("#training-lossval", Label).update(Text(f"loss {self.losses[-1]:.3f}{trend} "))
        self.post_message(self.Summary(f"training {step}/{total or '?'}"))

    def _measuring(self, event: dict[str, Any]) -> None:
        done, total = int(event.get("done", 0)), int(event.get("total", 0)) or None
        self.query_one(ProgressBar).update(total=total, progress=done)
        what = {"agreement": "your held-out judgements"}.get(event.get("part", ""), event.get("part", "checks"))
        self._stats(f"measuring {what}: {done}/{total or '?'} · ETA {duration(event.get('eta_s'))}")
        self.post_message(self.Summary(f"measuring {done}/{total or '?'}"))

    def _done(self, event: dict[str, Any]) -> None:
        assert self.handle is not None
        self.state = "swapping"
        self.services.store.set_setting(PENDING, None)
        name = event.get("adapter_name") or self.handle.adapter_name
        metrics = event.get("metrics") or {}
        bar = self.query_one(ProgressBar)
        bar.update(total=bar.total or 1, progress=bar.total or 1)
        loss = metrics.get("final_loss") or metrics.get("train_loss")
        took = f" in {duration(metrics.get('train_s'))}" if metrics.get("train_s") is not None else ""
        done = f"done{took}" + (f" · final loss {loss:.3f}" if isinstance(loss, (int, float)) else "")
        self._effect(metrics)
        self.new_adapter = name
        decision = metrics.get("decision")
        if isinstance(decision, dict) and decision.get("promote") is False:
            self._held_back(name, str(decision.get("reason", "")))
            return
        self.promoted_because = str(decision.get("reason", "")) if isinstance(decision, dict) else ""
        self._stats(f"{done} · swapping it in…")
        self._hint("ctrl+r hide")
        self.post_message(self.Summary("swapping in the new adapter…"))
        self._swap_in(name, self._prompts(self.handle))

    def _held_back(self, name: str, reason: str) -> None:
        """The gate kept the live model: the adapter is kept, not swapped in; F7 promotes it, ctrl+b A/Bs it."""
        self.state = "done"
        self._stats(f"{name} held back; the live model stays")
        self._decision(f"held back: {reason}", "bold yellow")
        self.post_message(self.Ended())
        self._hint(f"{AB_NEW.name} A/B it against the live model · F7 then p promotes it · F5 again · ctrl+r hide")
        self.post_message(self.Summary("new adapter held back"))
        self._say(f"{name} held back, the live model stays: {reason}", "warning")

    def _ended(self, state: str, text: str, severity: str) -> None:
        self.state = state
        self.post_message(self.Ended())
        self.services.store.set_setting(PENDING, None)
        self._stats(text)
        self._hint("F5 train again · ctrl+r hide")
        self.post_message(self.Summary(""))
        self._say(text, severity)
        if state == "cancelled":
            self.set_timer(HIDE_AFTER_S, self._hide_if_idle)

    # ---- swap and before/after -------------------------------------------------------------------------------
    def _prompts(self, handle: RunHandle) -> list[tuple[list[dict[str, str]], str]]:
        prompts = [(p, "held out") for p in handle.holdout[:3]]
        if not prompts:  # too few judged prompts to hold any out: show the change on ones it trained on
            trained = fallback_prompts(self.services.store, self.services.settings, handle.run_id, 3)
            prompts = [(p, "trained on") for p in trained]
        return prompts

    @work(thread=True, exit_on_error=False, group="training")
    def _swap_in(self, name: str, prompts: list[tuple[list[dict[str, str]], str]]) -> None:
        host = self.host
        while not host.model_ready.wait(0.25):
            if self.closing.is_set():
                return
        if host.model_error:
            self.post_message(self.SwapFailed(f"no model to swap into: {host.model_error}"))
            return
        engine = self.services.engine
        previous = engine.active_adapter
        try:
            before = compare_prompts(engine, prompts, self.closing)  # the adapter live now (or base)
            # Waits for an answer in flight (the engine holds one lock); the app hears of the swap from the service.
            seconds = self.services.adapters.use(name)
        except TuituneError as exc:
            self.post_message(self.SwapFailed(str(exc) or exc.__class__.__name__))
            return
        except Exception as exc:
            self.post_message(self.SwapFailed(unexpected(self.app, exc, "swapping in the new adapter")))
            return
        self.post_message(self.SwappedIn(name, seconds))
        after = compare_prompts(engine, prompts, self.closing)
        rows = [Comparison(b.prompt, b.kind, b.answer, a.answer) for b, a in zip(before, after, strict=True)]
        self.post_message(self.Compared(rows, previous or BASE, name, seconds))

    @on(SwappedIn)
    def swapped(self, event: SwappedIn) -> None:
        if self.state != "swapping":
            return
        self._stats(f"{event.name} is live (swapped in {event.seconds:.2f}s) · comparing before/after…")
        self._say(f"adapter {event.name} is live; the swap took {event.seconds:.2f}s")

    @on(SwapFailed)
    def swap_failed(self, event: SwapFailed) -> None:
        self._ended("failed", f"the adapter could not be swapped in: {event.error}", "error")

    @on(Compared)
    def compared(self, event: Compared) -> None:
        self.state = "done"
        self.last_comparison = event
        self._stats(f"{event.after} is live (swapped in {event.seconds:.2f}s)")
        if self.promoted_because:
            self._decision(f"promoted: {self.promoted_because}", "bold green")
        self.post_message(self.Ended())
        self._hint(f"{AB_NEW.name} A/B it against the one before · F5 again · F7 adapters (roll back) · ctrl+r hide")
        self.post_message(self.Summary(f"swapped in {event.seconds:.2f}s"))
        if event.rows:
            self.app.push_screen(BeforeAfterScreen(event.rows, event.before, event.after, event.seconds, self.measured))
        self.set_timer(HIDE_AFTER_S, self._hide_if_idle)

    def _hide_if_idle(self) -> None:
        if not self.live:
            self.display = False
            self.post_message(self.Summary(""))

    # ---- drawing ---------------------------------------------------------------------------------------------
    def _reset(self) -> None:
        self.losses, self.cancel_asked, self.started_seen = [], False, False
        self.query_one(ProgressBar).update(total=None, progress=0)
        self.query_one(Sparkline).data = []
        self.query_one("#training-lossval", Label).update("")
        self.query_one("#training-effect", Label).update("")
        self.query_one("#training-decision", Label).update("")
        self.measured, self.ab_line, self.harmed = "", "", False

    def _effect(self, metrics: dict[str, Any]) -> None:
        """The agreement with the held-out judgements, then checks and behaviour (red when the checks fell)."""
        if "agreement" not in metrics and "effect" not in metrics:
            return
        effect = metrics.get("effect") or {}
        parts = [agreement_line(metrics["agreement"])] if "agreement" in metrics else []
        self.measured = " · ".join(parts + ([summary(effect)] if effect else []))
        self.harmed = harmed(effect)
        self._show_effect()

    def _show_effect(self) -> None:
        """What was measured, and the user's own A/B verdict beside it once there is one."""
        text = " · ".join(part for part in (self.ab_line, self.measured) if part)
        self.query_one("#training-effect", Label).update(
            Text(one_line(text, 400), style="bold red" if self.harmed else "")
        )

    def _decision(self, text: str, style: str) -> None:
        self.query_one("#training-decision", Label).update(Text(one_line(text, 400), style=style))

    def _show_title(self, text: str) -> None:
        self.query_one("#training-title", Label).update(Text(one_line(text), style="bold"))

    def _stats(self, text: str) -> None:
        self.query_one("#training-stats", Label).update(Text(one_line(text)))

    def _hint(self, text: str) -> None:
        self.query_one("#training-hint", Label).update(Text(one_line(text)))

    def _say(self, text: str, severity: str = "information") -> None:
        self.notify(one_line(text, 300), severity=severity, markup=False)  # type: ignore[arg-type]
