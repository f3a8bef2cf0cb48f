"""A hostile peer, run as its own process by the rogue-peer test.

``python tests/rogue_peer.py SURVEY_URL FRAMES_FILE``

It has no key. It dials the coordinator's survey address, reads a survey
(frames are signed, not encrypted, so it can), learns the two pipeline
addresses from it, and then, on every socket it can reach:

- answers the survey with garbage, an oversized frame, an unsigned Hello
  and a Hello signed with the wrong key;
- dials the task pipeline and takes every descriptor it is given, answering
  none (they must be re-issued);
- pushes garbage, a frame larger than the result pipeline accepts, forged
  unsigned results, and the frames in FRAMES_FILE (captured from elsewhere:
  results of another job, and replays of this job's genuine results).

It prints ``ready`` once its barrage is sent, then keeps taking descriptors
until its standard input closes, and prints how many it took.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import sys
import threading

import pynng

from nngexport.wire import Hello, Result, Survey, decode, encode

TAG = 32


def main() -> None:
    survey_url, frames_file = sys.argv[1], sys.argv[2]
    with open(frames_file) as file:
        captured = [bytes.fromhex(h) for h in json.load(file)]
    with pynng.Respondent0(recv_timeout=20_000) as respondent:
        respondent.dial(survey_url, block=False)
        frame = respondent.recv()
        survey = decode(frame[:-TAG])
        assert isinstance(survey, Survey)
        respondent.send(b"\x00garbage")
    tasks_url = _host(survey.tasks, survey_url)
    results_url = _host(survey.results, survey_url)
    taken = [0]
    stop = threading.Event()
    thief = pynng.Pull0(recv_timeout=200)
    thief.dial(tasks_url, block=False)

    def steal() -> None:
        while not stop.is_set():
            try:
                thief.recv_msg()
            except pynng.Timeout:
                continue
            except pynng.Closed:
                return
            taken[0] += 1

    stealing = threading.Thread(target=steal)
    stealing.start()
    with pynng.Respondent0(recv_timeout=5_000) as liar:
        liar.dial(survey_url, block=False)
        hello = encode(Hello("rogue", 64, 0, 1, "rogue", survey.job, (0, 1, 2)))
        for answer in (
            b"NX\x02\x02" + b"\xff" * 60,
            b"x" * (70 * 1024),
            hello,
            hello + hmac.digest(b"w" * 32, hello, hashlib.sha256),
        ):
            liar.recv()
            liar.send(answer)
    with pynng.Push0(send_timeout=5_000) as pusher:
        pusher.dial(results_url, block=False)
        forged = encode(Result(survey.job, 0, "rogue", 1, b"forged,row\r\n"))
        barrage = [
            b"",
            b"NX",
            b"\x00" * 100,
            forged,
            forged + b"\x00" * TAG,
            *captured,
        ]
        for frame in barrage:
            pusher.send(frame)
        # Over the limit: the coordinator's NNG closes this connection, so
        # the send may never be taken.
        with contextlib.suppress(pynng.Timeout):
            pusher.send(b"y" * (2 * 1024 * 1024))
    print("ready", flush=True)
    sys.stdin.read()
    stop.set()
    stealing.join()
    thief.close()
    print(f"took {taken[0]}", flush=True)


def _host(announced: str, dialed: str) -> str:
    from nngexport.endpoints import resolve

    return resolve(announced, dialed)


if __name__ == "__main__":
    main()
