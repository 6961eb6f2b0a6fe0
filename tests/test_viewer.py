"""Backpressure: a socket that stops reading is bounded and closed; the others are not delayed."""

import asyncio
import json

from feed.viewer import CLOSE_TOO_SLOW, MAX_BUFFERED_BYTES, MAX_PENDING_FRAMES, ViewerSocket, tweets_frame


class RecordingSend:
    """An ASGI send that records frames; `stuck` makes it hang like a client that stopped reading."""

    def __init__(self, stuck: bool = False) -> None:
        self.sent: list[dict] = []
        self.stuck = stuck

    async def __call__(self, message: dict) -> None:
        if self.stuck and message["type"] == "websocket.send" and self.sent:
            await asyncio.Event().wait()  # never returns, like a full socket buffer
        self.sent.append(message)


def texts(send: RecordingSend) -> list[str]:
    frames = [json.loads(m["text"]) for m in send.sent if m["type"] == "websocket.send"]
    return [t["text"] for f in frames if f["type"] == "tweets" for t in f["tweets"]]


def push_tweet(socket: ViewerSocket, seq: int) -> None:
    inner = json.dumps({"seq": seq, "text": f"t{seq}"})
    socket.push(seq, tweets_frame(inner), inner)


async def test_frames_after_the_history_are_sent_in_order():
    send = RecordingSend()
    socket = ViewerSocket(send)
    push_tweet(socket, 1)  # covered by the history: dropped
    push_tweet(socket, 3)
    socket.start('{"type":"history","tweets":[]}', history_seq=2)
    await asyncio.sleep(0.01)
    push_tweet(socket, 4)
    await asyncio.sleep(0.01)
    assert json.loads(send.sent[0]["text"])["type"] == "history"
    assert texts(send) == ["t3", "t4"]
    socket.stop()


async def test_frames_that_queue_behind_a_waiting_send_are_merged_into_one():
    release = asyncio.Event()

    async def waiting_send(message: dict) -> None:
        sent.append(message)
        if len(sent) == 2:
            await release.wait()  # the server waits for the client to drain

    sent: list[dict] = []
    socket = ViewerSocket(waiting_send)
    socket.start('{"type":"history","tweets":[]}', history_seq=0)
    for seq in range(1, 6):
        push_tweet(socket, seq)  # t1 goes out and waits; t2..t5 queue behind it
    release.set()
    await asyncio.sleep(0.01)
    frames = [json.loads(m["text"]) for m in sent]
    assert [len(f["tweets"]) for f in frames] == [0, 1, 4]  # the history, t1, then one merged frame
    assert [t["text"] for f in frames for t in f["tweets"]] == ["t1", "t2", "t3", "t4", "t5"]
    socket.stop()


async def test_a_socket_that_keeps_up_gets_each_frame_without_a_task_switch():
    send = RecordingSend()
    socket = ViewerSocket(send)
    socket.start('{"type":"history","tweets":[]}', history_seq=0)
    for seq in range(1, 4):
        push_tweet(socket, seq)
        assert texts(send)[-1] == f"t{seq}"  # written before push returned
    socket.stop()


async def test_a_client_that_stops_reading_holds_bounded_memory():
    socket = ViewerSocket(RecordingSend(stuck=True))
    socket.start('{"type":"history","tweets":[]}', history_seq=0)
    await asyncio.sleep(0.01)
    push_tweet(socket, 1)
    await asyncio.sleep(0.01)  # the writer is now stuck on this frame
    for seq in range(2, 10 * MAX_PENDING_FRAMES):
        push_tweet(socket, seq)
        assert socket.pending_count <= MAX_PENDING_FRAMES
    socket.stop()


async def test_a_full_socket_is_closed_with_4408_once_its_writer_frees_up():
    release = asyncio.Event()

    async def slow_send(message: dict) -> None:
        sent.append(message)
        if len(sent) == 2:
            await release.wait()

    sent: list[dict] = []
    socket = ViewerSocket(slow_send)
    socket.start('{"type":"history","tweets":[]}', history_seq=0)
    await asyncio.sleep(0.01)
    push_tweet(socket, 1)
    await asyncio.sleep(0.01)  # the writer now waits on this frame
    for seq in range(2, MAX_PENDING_FRAMES + 10):
        push_tweet(socket, seq)
    release.set()
    await asyncio.sleep(0.01)
    assert sent[-1]["type"] == "websocket.close"
    assert sent[-1]["code"] == CLOSE_TOO_SLOW
    assert "too slow" in sent[-1]["reason"]
    socket.stop()


async def test_a_stuck_socket_does_not_delay_the_others():
    stuck, healthy = RecordingSend(stuck=True), RecordingSend()
    sockets = [ViewerSocket(stuck), ViewerSocket(healthy)]
    for socket in sockets:
        socket.start('{"type":"history","tweets":[]}', history_seq=0)
    for seq in range(1, 50):
        for socket in sockets:
            push_tweet(socket, seq)
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)
    assert texts(healthy) == [f"t{n}" for n in range(1, 50)]
    for socket in sockets:
        socket.stop()


async def test_a_close_that_has_to_wait_is_sent_once_and_nothing_follows_it():
    release = asyncio.Event()

    async def waiting_send(message: dict) -> None:
        sent.append(message)
        if message["type"] == "websocket.close":
            await release.wait()

    sent: list[dict] = []
    socket = ViewerSocket(waiting_send)
    socket.start('{"type":"history","tweets":[]}', history_seq=0)
    socket.close(CLOSE_TOO_SLOW, "too slow")
    push_tweet(socket, 1)
    release.set()
    await asyncio.sleep(0.01)
    assert [m["type"] for m in sent] == ["websocket.send", "websocket.close"]


async def test_a_send_whose_wait_is_cancelled_counts_as_a_lost_connection():
    drained = asyncio.get_running_loop().create_future()

    async def send(message: dict) -> None:
        sent.append(message)
        if len(sent) == 2:
            await drained  # the server gives up waiting for the client (its future is cancelled)

    sent: list[dict] = []
    socket = ViewerSocket(send)
    socket.start('{"type":"history","tweets":[]}', history_seq=0)
    push_tweet(socket, 1)
    push_tweet(socket, 2)  # queued behind the waiting send
    drained.cancel()
    await asyncio.sleep(0.01)
    push_tweet(socket, 3)
    assert len(sent) == 2  # the history and t1: nothing is sent after the loss
    assert socket.pending_count == 0


async def test_a_hide_that_arrives_while_the_history_loads_is_sent_after_it():
    send = RecordingSend()
    socket = ViewerSocket(send)
    socket.push(0, '{"type":"hide","mod":5,"ids":["1"]}', None, mark=5)  # names an old tweet
    socket.push(0, '{"type":"hide","mod":3,"ids":["2"]}', None, mark=3)  # the history reflects it
    socket.start('{"type":"history","mod":4,"tweets":[]}', history_seq=10, history_mark=4)
    await asyncio.sleep(0.01)
    assert [json.loads(m["text"]).get("mod") for m in send.sent] == [4, 5]
    socket.stop()


async def test_frames_queued_past_the_byte_bound_close_the_socket_before_the_frame_bound():
    release, closed = asyncio.Event(), asyncio.Event()

    async def waiting_send(message: dict) -> None:
        sent.append(message)
        if message["type"] == "websocket.close":
            closed.set()
        if len(sent) == 2:
            await release.wait()  # the client stopped reading: t1's send waits

    sent: list[dict] = []
    socket = ViewerSocket(waiting_send)
    socket.start('{"type":"history","tweets":[]}', history_seq=0)
    push_tweet(socket, 1)
    big = json.dumps({"seq": 2, "text": "z" * 64 * 1024})
    frames_past_the_bound = MAX_BUFFERED_BYTES // len(big) + 2  # far fewer than MAX_PENDING_FRAMES
    for seq in range(2, 2 + frames_past_the_bound):
        socket.push(seq, tweets_frame(big), big)
    assert socket.pending_count < frames_past_the_bound  # closing dropped the queue
    release.set()
    await asyncio.wait_for(closed.wait(), 5)
    assert [m["type"] for m in sent] == ["websocket.send", "websocket.send", "websocket.close"]
    assert sent[-1]["code"] == CLOSE_TOO_SLOW
