"""The fault drill (`make drill`): the real processes, faults injected one at a time, losses counted.

It starts a private redis-server, a fresh PostgreSQL database `tweetsite_drill`, the three networks'
emulators (xemulator, blueskyemulator, mastodonemulator), the stream worker following all three and
a uvicorn web process, and watches one topic per network (`drill` on X, `drill-bluesky`,
`drill-mastodon`) with a viewer that behaves like the page (drill/viewer.py). Each fault gets good
posts before, during and after it, and one line:

    <fault>  survived|FAILED  lost=<n>  <note>

lost = good posts the network delivered but not stored + stored posts the topic's viewer does not
hold after a settle wait; a post stored twice or held under two seqs fails the fault. Exit status 0
only if every fault survived with nothing lost. Logs: tmp/drill/<time>/.

- drill/stack.py: the processes; drill/seed.py: the topics and the Mastodon instance row;
  drill/control.py: emulator control, /healthz, API, database
- drill/runner.py: one step's bookkeeping and checks; drill/faults_*.py: the faults (X:
  faults_input, faults_conn, faults_proc, faults_moderation; faults_bluesky; faults_mastodon)
"""
