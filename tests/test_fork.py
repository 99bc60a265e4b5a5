"""fork() of a writing process (issue 9, item 10): the child never owns the parent's run.

Before the fix, a child that exited normally either deadlocked in the point buffer's close
(the parent's flusher held its lock at the fork) or closed the parent's run through atexit,
releasing the writer lock so that a second writer could open it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from aimcol import Run
    from aimcol.errors import ReadOnlyRunError, RunLockedError

    repo = sys.argv[1]
    run = Run(repo=repo, system_tracking_interval=None, flush_points=50, flush_seconds=0.01)
    step = 0
    children = []
    for k in range(12):
        for _ in range(2000):  # the flusher writes all the time: forks land inside flushes
            run.track(step * 0.5, name="loss", step=step)
            step += 1
        pid = os.fork()
        if pid == 0:
            try:
                run.track(1.0, name="loss")
                print("child tracked into the parent's run", flush=True)
            except ReadOnlyRunError as exc:
                assert "fork" in str(exc)
            run.close()  # a no-op in the child
            sys.exit(0)  # a normal exit: atexit handlers run
        children.append(pid)
    for pid in children:
        deadline = time.time() + 20
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                assert os.waitstatus_to_exitcode(status) == 0, status
                break
            if time.time() > deadline:
                os.kill(pid, 9)
                print("child deadlocked", flush=True)
                sys.exit(3)
            time.sleep(0.01)
    # the parent still owns its run: another writer is refused, and no end was stamped
    check = Run(run.hash, repo=repo, read_only=True)
    assert check.end_time is None and check.active, "a child closed the parent's run"
    for _ in range(1000):
        run.track(step * 0.5, name="loss", step=step)
        step += 1
    run.close()
    print("steps", step, flush=True)
    """
)


def test_forked_children_exit_without_touching_the_parents_run(repo_path):
    done = subprocess.run([sys.executable, "-c", SCRIPT, repo_path], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "child" not in done.stdout
    steps = int(done.stdout.split("steps")[1])
    from aimcol import Repo

    (run,) = Repo(repo_path).iter_runs()
    values = run.get_metric("loss").values.sparse_numpy()
    assert values[0].tolist() == list(range(steps))
    assert run.exit_status == "finished"


def test_a_second_writer_is_refused_while_forked_children_exit(repo_path):
    script = textwrap.dedent(
        """
        import os, sys, subprocess
        from aimcol import Run
        run = Run(repo=sys.argv[1], system_tracking_interval=None, capture_terminal_logs=False)
        run.track(1.0, name="loss")
        pid = os.fork()
        if pid == 0:
            sys.exit(0)
        os.waitpid(pid, 0)
        other = subprocess.run([sys.executable, "-c",
            "import sys; from aimcol import Run; from aimcol.errors import RunLockedError\\n"
            "try:\\n    Run(sys.argv[1], repo=sys.argv[2], system_tracking_interval=None)\\n"
            "except RunLockedError:\\n    print('refused')\\nelse:\\n    print('OPENED')",
            run.hash, sys.argv[1]], capture_output=True, text=True)
        print(other.stdout.strip(), other.stderr[-500:])
        run.close()
        """
    )
    done = subprocess.run([sys.executable, "-c", script, repo_path], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("refused"), done.stdout
