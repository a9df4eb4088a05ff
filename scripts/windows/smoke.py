#!/usr/bin/env python3
"""The Windows build of taizhang, run under Wine as a county's Windows PC would.

    python3 scripts/windows/smoke.py WINDOWS_EXE LINUX_BINARY RULES_DIR HOLDOPEN_EXE

Wine must be set up by the caller (scripts/windows-check): WINEPREFIX holding the
test-only ProcessPrng stand-in, WINEDEBUG, and a UTF-8 locale so that Chinese
file names cross between Linux and Windows intact. Each check says what it
shows; the first failure stops the suite with exit 1.

What it shows, on the Windows exe, against the Linux binary's own results:
  demo            writes the six sample files, named as on Linux;
  validate        --format json on them equals the Linux binary's output;
  run --once      archives every file, writes both county workbooks and the
                  notices (.eml), every name as on Linux;
  watch           serves the page (answered from the Linux side), takes a file
                  dropped while it runs, holds the state lock against a second
                  process, and stops on Ctrl-C with exit 0;
  held files      a file another program holds without sharing (a copy still
                  running) waits in the inbox with the true reason logged, and is
                  taken once released; a file held open as Excel holds one (read
                  shared, no delete) is archived and answered once, then removed
                  from the inbox when it is closed;
  held workbook   the county workbook held open as Excel holds it: the admin's
                  notice says so in Chinese words, the workbook is rebuilt after;
  worker          a daemon killed while a worker reads a file leaves no worker
                  behind (the worker's job dies with the daemon).

HOLDOPEN_EXE is scripts/windows/holdopen.c built by MinGW (test-only).
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

EXE, LINUX, RULES, HOLDOPEN = (os.path.abspath(a) for a in sys.argv[1:5])
# Both platforms see the same day and the same time zone.
CLOCK = {"TAIZHANG_NOW": "2026-12-03T10:00:00+00:00", "TZ": "UTC"}
PERIOD = "2026-11"
passed = []


def fail(what, detail=""):
    print(f"windows smoke: FAILED: {what}\n{detail}", flush=True)
    sys.exit(1)


def ok(what):
    passed.append(what)
    print(f"ok - {what}", flush=True)


def env(extra=None):
    e = dict(os.environ, **CLOCK)
    e.update(extra or {})
    return e


def win(args, cwd, timeout=180, extra=None):
    return subprocess.run(["wine", EXE, *args], cwd=cwd, env=env(extra),
                          capture_output=True, timeout=timeout)


def lin(args, cwd, timeout=180):
    return subprocess.run([LINUX, *args], cwd=cwd, env=env(),
                          capture_output=True, timeout=timeout)


def text(p):
    return (p.stdout + p.stderr).decode("utf-8", "replace")


def site(root, name):
    """A county folder as the README lays it out: the binary's rules beside it."""
    d = os.path.join(root, name)
    os.makedirs(d)
    shutil.copytree(RULES, os.path.join(d, "rules"))
    return d


def tree(d):
    """Every file under d, relative, without the journal's own files."""
    out = set()
    for base, _, files in os.walk(d):
        for f in files:
            rel = os.path.relpath(os.path.join(base, f), d)
            if not rel.startswith(os.path.join("state", "journal.sqlite3")) \
                    and not rel.endswith("taizhang.lock"):
                out.add(rel.replace(os.sep, "/"))
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The page's session cookie, once opened with the access token.
PAGE = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())


def get_json(url, timeout=2):
    with PAGE.open(url, timeout=timeout) as r:
        return json.loads(r.read().decode("utf-8"))


def wait_for(what, seconds, check):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            v = check()
            if v:
                return v
        except Exception:  # not up yet
            pass
        time.sleep(0.25)
    fail(f"timed out waiting for {what}")


def main():
    root = tempfile.mkdtemp(prefix="taizhang-wine-")
    try:
        run_all(root)
    finally:
        subprocess.run(["wineserver", "-k"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
    print(f"windows smoke: {len(passed)} passed, 0 failed", flush=True)


def run_all(root):
    w, l = site(root, "windows"), site(root, "linux")

    # demo: six files (two units' two ledgers and their registers of the month before), named as on Linux.
    for d, run in ((w, win), (l, lin)):
        p = run(["demo", "--dir", "samples", "--period", PERIOD], d)
        if p.returncode != 0:
            fail(f"demo exited {p.returncode} in {d}", text(p))
    names_w = sorted(os.listdir(os.path.join(w, "samples")))
    names_l = sorted(os.listdir(os.path.join(l, "samples")))
    if names_w != names_l or len(names_w) != 6:
        fail("demo wrote other files than on Linux", f"{names_w}\n{names_l}")
    ok(f"demo writes {len(names_w)} files, named as on Linux")

    # validate --format json on the same files: the same answer on both.
    samples = os.path.join(l, "samples")
    args = ["validate", "--rules", "../rules", "--format", "json", *names_l]
    pw, pl = win(args, samples), lin(args, samples)
    if pl.returncode not in (0, 1) or pw.returncode != pl.returncode:
        fail(f"validate exited {pw.returncode} (Linux {pl.returncode})", text(pw))
    jw, jl = json.loads(pw.stdout), json.loads(pl.stdout)
    if jw != jl:
        fail("validate's JSON differs from Linux", json.dumps(jw, ensure_ascii=False)[:3000])
    ok(f"validate --format json equals Linux ({len(jl['files'])} files, exit {pl.returncode})")

    # run --once over the demo files: archive, county workbooks, notices.
    for d, run in ((w, win), (l, lin)):
        inbox = os.path.join(d, "inbox")
        os.makedirs(inbox)
        for n in names_l:
            shutil.copy(os.path.join(samples, n), inbox)
        p = run(["run", "--once", "--settle", "0.2"], d)
        if p.returncode != 0:
            fail(f"run --once exited {p.returncode} in {d}", text(p))
    tw, tl = tree(w), tree(l)
    if tw != tl:
        fail("run --once left other files than on Linux",
             f"only Windows: {sorted(tw - tl)}\nonly Linux: {sorted(tl - tw)}")
    archived = [f for f in tw if f.startswith("state/archive/") and "/." not in f]
    workbooks = [f for f in tw if f.startswith("outbox/") and f.endswith("_全县汇总.xlsx")]
    notices = [f for f in tw if f.startswith("outbox/mail/") and f.endswith(".eml")]
    if len(archived) < 6 or len(workbooks) != 3 or len(notices) != 6:
        fail("run --once: missing outputs", "\n".join(sorted(tw)))
    for f in archived:
        src = os.path.join(samples, f.rsplit("/", 1)[1].split("-", 1)[-1])
        if os.path.exists(src) and open(src, "rb").read() != open(os.path.join(w, f), "rb").read():
            fail(f"archived copy {f} differs from what was sent")
    if os.listdir(os.path.join(w, "inbox")):
        fail("run --once left files in the inbox", str(os.listdir(os.path.join(w, "inbox"))))
    ok(f"run --once: {len(archived)} archived, {len(workbooks)} county workbooks, "
       f"{len(notices)} notices, every name as on Linux")
    sw = json.loads(win(["status", "--format", "json"], w).stdout)
    sl = json.loads(lin(["status", "--format", "json"], l).stdout)
    units = [u for p in sl.get("periods", []) for u in p.get("units", [])]
    if not units or sw.get("periods") != sl.get("periods"):
        fail("status differs from Linux", json.dumps(sw, ensure_ascii=False)[:3000])
    ok(f"status --format json: every period and unit as on Linux ({len(units)} rows)")

    watch(root, samples)
    held_files(root, samples)
    held_workbook(root, samples)
    worker_dies_with_daemon(root, samples)


def watch(root, samples):
    d = site(root, "watch")
    os.makedirs(os.path.join(d, "inbox"))
    port = free_port()
    daemon = subprocess.Popen(
        ["wine", EXE, "watch", "--settle", "0.5", "--poll", "0.5", "--web", f"127.0.0.1:{port}"],
        cwd=d, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        api = f"http://127.0.0.1:{port}/api/status"
        token_file = os.path.join(d, "state", "web-token")
        wait_for("the access token", 90, lambda: os.path.exists(token_file))
        token = read(token_file).strip()
        wait_for("the page", 90, lambda: PAGE.open(
            f"http://127.0.0.1:{port}/?token={token}", timeout=5).status == 200)
        page = PAGE.open(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
        try:
            urllib.request.urlopen(api, timeout=5)
            fail("the page answered without a session")
        except urllib.error.HTTPError as e:
            if e.code != 401:
                fail(f"without a session the page answered {e.code}")
        if "报送情况" not in page and "安和县" not in page:
            fail("the page does not read as the status page", page[:1000])
        ok("watch: the page answers from the Linux side, through the access token only")

        name = "石桥镇_残疾人信息登记簿_2026-11.xlsx"
        part = os.path.join(d, "inbox", name + ".part")
        shutil.copy(os.path.join(samples, name), part)
        os.rename(part, os.path.join(d, "inbox", name))

        def taken():
            st = get_json(api)
            return [s for s in json.dumps(st, ensure_ascii=False).split('"') if s == "已退回"]
        wait_for("the dropped file to be judged", 90, taken)
        if os.path.exists(os.path.join(d, "inbox", name)):
            fail("the dropped file is still in the inbox")
        ok("watch: a file dropped while it runs is archived, judged and shown on the page")

        second = win(["run", "--once"], d, timeout=60)
        if second.returncode != 2 or not re.search(r"另一个 taizhang 进程（pid \d+）", text(second)):
            fail(f"a second process on the state folder exited {second.returncode}", text(second))
        ok("the state lock refuses a second process (exit 2, the holder named)")

        daemon.send_signal(signal.SIGINT)  # Wine delivers it as the console's Ctrl-C
        try:
            code = daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            fail("watch did not stop within 30 s of Ctrl-C")
        log = daemon.stdout.read().decode("utf-8", "replace")
        if code != 0:
            fail(f"watch exited {code} on Ctrl-C", log)
        if "\x1b[" in log:
            fail("log lines carry ANSI codes off a console", log[:2000])
        ok("watch: Ctrl-C stops it with exit 0; its log has no ANSI codes")
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def hold(cwd, path, share):
    """Holds `path` open from a Windows process until released."""
    p = subprocess.Popen(["wine", HOLDOPEN, share, path], cwd=cwd, env=env(),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = p.stdout.readline().decode().strip()
    if line != "held":
        fail(f"holdopen {share} {path}: {line}", p.stderr.read().decode("utf-8", "replace"))
    return p


def release(holder):
    holder.stdin.close()
    holder.wait(timeout=30)


def held_files(root, samples):
    d = site(root, "held")
    inbox = os.path.join(d, "inbox")
    os.makedirs(inbox)
    copying = "石桥镇_残疾人信息登记簿_2026-11.xlsx"
    in_excel = "柳河镇_残疾人信息登记簿_2026-11.xlsx"
    for n in (copying, in_excel):
        shutil.copy(os.path.join(samples, n), inbox)
    holders = [hold(d, os.path.join("inbox", copying), "none"),
               hold(d, os.path.join("inbox", in_excel), "read")]
    log = os.path.join(d, "watch.log")
    with open(log, "wb") as out:
        daemon = subprocess.Popen(
            ["wine", EXE, "watch", "--settle", "0.2", "--web", "off"], cwd=d,
            env=env({"TAIZHANG_LOG": "debug"}), stdout=out, stderr=out)
    try:
        wait_for("the held copy to be logged", 90,
                 lambda: "cannot be opened (文件被其他程序占用" in read(log))
        if not os.path.exists(os.path.join(inbox, copying)):
            fail("a file held without sharing left the inbox")
        ok("a file another program holds unshared waits in the inbox, the reason logged in words")
        wait_for("the file open in Excel to be archived and kept", 90,
                 lambda: read(log).count("archived; still held open by another program") >= 2)
        mails = os.listdir(os.path.join(d, "outbox", "mail"))
        if len(mails) != 1 or not mails[0].startswith("柳河镇"):
            fail("a file held open in Excel was answered other than once", str(mails))
        for h in holders:
            release(h)
        wait_for("both files to leave the inbox", 60, lambda: not os.listdir(inbox))
        wait_for("the released copy to be answered", 60,
                 lambda: len(os.listdir(os.path.join(d, "outbox", "mail"))) == 2)
        mails = sorted(os.listdir(os.path.join(d, "outbox", "mail")))
        if not any(m.startswith("石桥镇") for m in mails):
            fail("the released copy was not answered", str(mails))
        ok("a file held open as Excel holds it is answered once, and removed once closed")
        daemon.send_signal(signal.SIGINT)
        daemon.wait(timeout=30)
    finally:
        for h in holders:
            if h.poll() is None:
                h.kill()
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()


def held_workbook(root, samples):
    """The county workbook open in Excel (read-shared, no delete) when a new
    file comes: the notice to the township still goes, the admin is told in
    Chinese words (no OS text), and the workbook is rebuilt once released."""
    w = site(root, "held-workbook")
    inbox, outbox = os.path.join(w, "inbox"), os.path.join(w, "outbox")
    os.makedirs(inbox)
    first, second = "柳河镇_残疾人信息登记簿_2026-11.xlsx", "石桥镇_残疾人信息登记簿_2026-11.xlsx"
    shutil.copy(os.path.join(samples, first), inbox)
    p = win(["run", "--once", "--settle", "0.2"], w)
    book = [f for f in os.listdir(outbox) if f.endswith("_全县汇总.xlsx")]
    if p.returncode != 0 or len(book) != 1:
        fail("run --once did not make the county workbook", text(p))
    holder = hold(w, os.path.join("outbox", book[0]), "read")
    try:
        shutil.copy(os.path.join(samples, second), inbox)
        p = win(["run", "--once", "--settle", "0.2"], w)
        if p.returncode != 0:
            fail(f"run --once with the workbook held exited {p.returncode}", text(p))
        mails = os.listdir(os.path.join(outbox, "mail"))
        told = [m for m in mails if "汇总未更新" in m]
        if len(told) != 1 or not any(m.startswith("石桥镇") for m in mails):
            fail("the township not answered, or the admin not told once", str(mails))
        from email import message_from_bytes, policy
        with open(os.path.join(outbox, "mail", told[0]), "rb") as f:
            msg = message_from_bytes(f.read(), policy=policy.default)
        body = msg.get_body(("plain",)).get_content()
        if "文件被其他程序占用（可能正在 Excel 中打开）" not in body or "os error" in body \
                or "Access denied" in body:
            fail("the admin's notice does not say in words that the workbook is held", body)
    finally:
        release(holder)
    p = win(["run", "--once"], w)
    st = json.loads(win(["status", "--format", "json"], w).stdout)
    if p.returncode != 0 or st.get("workbooks_failed"):
        fail("the county workbook was not rebuilt once released",
             text(p) + json.dumps(st, ensure_ascii=False)[:2000])
    ok("a county workbook held open as in Excel: the admin told in words, rebuilt once released")


def wine_workers(mark):
    """Wine processes of ours whose environment holds `mark`."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if mark.encode() not in f.read():
                    continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if "worker" in cmd:
            found.append((int(pid), cmd))
    return found


def worker_dies_with_daemon(root, samples):
    """The daemon is killed (SIGKILL, no chance to clean up) while a worker reads
    a file: the worker goes with it. Needs the debug build's hang hook."""
    d = site(root, "killed")
    os.makedirs(os.path.join(d, "inbox"))
    name = "柳河镇_残疾人信息登记簿_2026-11.xlsx"
    shutil.copy(os.path.join(samples, name), os.path.join(d, "inbox", name))
    mark = f"taizhang-smoke-{os.getpid()}-{time.monotonic_ns()}"
    log = os.path.join(d, "watch.log")
    with open(log, "wb") as out:
        daemon = subprocess.Popen(
            ["wine", EXE, "watch", "--settle", "0.2", "--web", "off"], cwd=d,
            env=env({"TAIZHANG_WORKER_HANG": "柳河镇", "TAIZHANG_SMOKE_MARK": mark,
                     "TAIZHANG_LOG": "debug"}),
            stdout=out, stderr=out)
    try:
        # "worker started" is logged once the worker is in its job and running.
        wait_for("a worker reading the file", 90, lambda: "worker started" in read(log))
        workers = wait_for("the worker's process", 10, lambda: wine_workers(mark))
        daemon.kill()
        daemon.wait()
        wait_for("the worker to end with its daemon", 20, lambda: not wine_workers(mark))
        ok(f"a daemon killed mid-read leaves no worker behind (worker pid {workers[0][0]})")
    finally:
        if daemon.poll() is None:
            daemon.kill()
        for pid, _ in wine_workers(mark):
            os.kill(pid, signal.SIGKILL)

if __name__ == "__main__":
    main()
