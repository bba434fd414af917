"""A flood of sign-ins, from a process of its own: `python -m tests.support.sign_in_flood GATEWAY_URL CLIENTS`.

Each client signs in with a random username, one try after another, waiting the Retry-After it is told (as a
page does). The process prints "flooding" once every client was answered once, goes on until its standard
input closes, then prints the statuses it was answered, as a JSON object of counts, and exits.
"""

import asyncio
import json
import sys
import uuid
from collections import Counter

import aiohttp


async def main(gateway_url: str, clients: int) -> None:
    answers: Counter = Counter()
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        flooders = [asyncio.create_task(flood(session, gateway_url, stop, answers)) for _ in range(clients)]
        while answers.total() < clients:
            await asyncio.sleep(0.01)
        print("flooding", flush=True)
        await asyncio.to_thread(sys.stdin.read)
        stop.set()
        await asyncio.gather(*flooders)
    print(json.dumps(answers), flush=True)


async def flood(session: aiohttp.ClientSession, gateway_url: str, stop: asyncio.Event, answers: Counter) -> None:
    while not stop.is_set():
        sign_in = {"username": f"guess-{uuid.uuid4().hex}", "password": "hunter2"}
        async with session.post(f"{gateway_url}/api/v1/session", json=sign_in) as answer:
            await answer.read()
            answers[str(answer.status)] += 1
            wait = float(answer.headers.get("Retry-After", 0))
        if wait:
            try:
                await asyncio.wait_for(stop.wait(), wait)
            except TimeoutError:
                pass


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
