"""The fault drill (`make drill`): the real processes, faults injected one at a time, losses counted.

It starts a private redis-server, a fresh PostgreSQL database `tweetsite_drill`, the X emulator, the
stream worker and a uvicorn web process, and watches topic `drill` with a viewer that behaves like
the page (drill/viewer.py). Each fault gets good tweets before, during and after it, and one line:

    <fault>  survived|FAILED  lost=<n>  <note>

lost = good tweets delivered by X but not stored + stored tweets the viewer does not hold after a
settle wait. Exit status 0 only if every fault survived with nothing lost. Logs: tmp/drill/<time>/.

- drill/stack.py: the processes; drill/control.py: emulator control, /healthz, API, database
- drill/runner.py: one step's bookkeeping and checks; drill/faults_*.py: the faults
"""
