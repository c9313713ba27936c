#!/usr/bin/env python3
"""The chat page in headless Chromium: two pages on two chat_servers joined
by a redis-server this test starts, and a terminal client (chat_client over
tcp://) that sees the same messages.

Usage: chat_browser_test.py BIN_DIR SCREENSHOT.PNG
"""

import os
import shutil
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # nothing written into the source tree
sys.path.insert(0, os.path.join(here, "..", "examples"))
from chat_stack import Stack  # noqa: E402

bin_dir, screenshot = sys.argv[1], sys.argv[2]
if not os.path.exists("/usr/bin/chromium") or not os.path.isdir(
        os.path.join(here, "node_modules", "puppeteer-core")) or not shutil.which("redis-server"):
    print("SKIP: needs /usr/bin/chromium, puppeteer-core and redis-server "
          "(scripts/setup.sh installs them)")
    sys.exit(77)

with Stack(bin_dir) as stack:
    terminal = subprocess.Popen(
        [os.path.join(bin_dir, "chat_client"), "--connect", stack.a.urls["tcp"], "--token",
         stack.token("carol"), "--room", "lobby"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.5)  # carol is in the room before the pages talk
    page = subprocess.Popen(["node", os.path.join(here, "chat_page_test.js"),
                             stack.a.urls["ws"].replace("ws:", "http:") + "/",
                             stack.b.urls["ws"].replace("ws:", "http:") + "/", screenshot],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    deadline = time.time() + 120
    for line in page.stdout:  # its results, and what it asks of the servers
        print(line, end="", flush=True)
        if line.strip() == "kill A":
            stack.a.kill()
            page.stdin.write("killed\n")
            page.stdin.flush()
        elif line.strip() == "start A":
            stack.a.restart()
            page.stdin.write("started\n")
            page.stdin.flush()
        if time.time() > deadline:
            page.kill()
    page.wait()
    out = terminal.communicate(input="", timeout=30)[0]  # end of its input: it leaves
    seen = ("[#lobby] bob: hello from Chromium on server B" in out and
            "[#lobby] alice: hi back from server A" in out)
    print(("ok   " if seen else "FAIL ") + "the terminal client over tcp:// saw both messages")
    if not seen:
        print(out)
    sys.exit(0 if page.returncode == 0 and seen else 1)
