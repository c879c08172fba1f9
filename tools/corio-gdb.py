# corio-gdb.py - corio's task dump, from gdb (a live process or a core file).
#
# Usage:
#     (gdb) source tools/corio-gdb.py
#     (gdb) corio-tasks            every task of every loop, with backtraces
#     (gdb) corio-tasks -q         the same without backtraces
#
#     gdb -batch -p PID -ex 'source tools/corio-gdb.py' -ex corio-tasks
#     gdb -batch ./prog core -ex 'source tools/corio-gdb.py' -ex corio-tasks
#
# For each loop on the process's list of loops (corio__loops, linked by
# reg_next) it lists the loop's alive tasks (next_alive): id, name, state,
# the cancelled flag, what a waiting task waits on, and the backtrace of
# each suspended task. gdb's own `bt` only sees the stack a thread runs on;
# a suspended task's stack is reached through its saved context: t->ctx.sp
# points at the frame corio__ctx_switch pushed (lib/arch/frame_x86_64.h:
# saved rbp at +48, resume address at +56; frame_aarch64.h: fp at +0, lr at
# +8), and from there the frame-pointer
# chain ([rbp] = caller's rbp, [rbp+8] = return address) is followed while
# it stays on the task's stack. corio is built with -fno-omit-frame-pointer;
# frames of code built without it (libc) may be skipped. The running task is
# the one a thread executes now: select that thread and use `bt`.
#
# Needs the program's debug info for corio's structs (corio builds with -g).
# x86-64 only, like corio.
#
# Core files: a core the kernel wrote (ulimit -c) has the task stacks. gdb's
# own `gcore` may not: on kernels with MADV_GUARD_INSTALL (6.13+) corio's
# stack slabs hold guard pages inside one mapping, gdb fails to read such a
# mapping and writes zeros instead, so waits and backtraces of suspended
# tasks are lost (the listing says so).

import time

import gdb

# The saved frame's frame pointer and resume address (lib/arch/frame_*.h).
FRAME_OFFSETS = {"x86-64": (48, 56), "aarch64": (0, 8)}
MAX_FRAMES = 64


def _frame_offsets():
    """(fp offset, pc offset, pc mask) for the inferior's architecture."""
    name = gdb.selected_inferior().architecture().name()
    if "aarch64" in name:
        # A PAC-signed return address: keep the 48 address bits.
        return FRAME_OFFSETS["aarch64"] + ((1 << 48) - 1,)
    return FRAME_OFFSETS["x86-64"] + ((1 << 64) - 1,)

STATES = {1: "ready", 2: "running", 3: "waiting", 4: "done"}


def _u64(v):
    return int(v.cast(gdb.lookup_type("unsigned long")))


def _read_u64(addr):
    mem = gdb.selected_inferior().read_memory(addr, 8)
    return int.from_bytes(bytes(mem), "little")


def _cstr(arr, size):
    try:
        mem = bytes(gdb.selected_inferior().read_memory(arr.address, size))
    except gdb.MemoryError:
        return "?"
    return mem.split(b"\0", 1)[0].decode("utf-8", "replace")


def _lookup_type(name):
    try:
        return gdb.lookup_type(name)
    except gdb.error:
        return None


def _why_names():
    """enum corio__wait_what value -> 'sleep', 'join', ... (from DWARF)."""
    names = {}
    t = _lookup_type("enum corio__wait_what")
    if t is not None:
        for f in t.fields():
            n = f.name
            if n.startswith("CORIO__WHY_"):
                n = n[len("CORIO__WHY_"):]
            if n != "COUNT":
                names[int(f.enumval)] = n.lower()
    return names


def _container(ptr, struct_name, member):
    """The struct_name * whose member is at ptr, or None."""
    st = _lookup_type("struct " + struct_name)
    if st is None:
        return None
    for f in st.fields():
        if f.name == member:
            addr = _u64(ptr) - f.bitpos // 8
            return gdb.Value(addr).cast(st.pointer())
    return None


def _task_name(t):
    name = _cstr(t["name"], 32)
    return name if name else "task-%d" % int(t["id"])


def _describe_wait(w, why):
    what = int(w["what"])
    kind = why.get(what, "wait %d" % what)
    ctx = w["ctx"]
    out = kind.replace("_", " ")
    try:
        if kind == "join" or kind == "drain":
            if _u64(ctx):
                u = ctx.cast(gdb.lookup_type("struct corio_task").pointer())
                out = "%s of task %d '%s'" % (
                    "join" if kind == "join" else "the end (cancelled) of",
                    int(u["id"]), _task_name(u))
        elif kind == "mutex":
            m = _container(ctx, "corio_mutex", "wq")
            out = "mutex 0x%x" % _u64(ctx)
            if m is not None:
                out = "mutex 0x%x" % _u64(m)
                owner = m["owner"]
                if _u64(owner):
                    out += " held by task %d '%s'" % (int(owner["id"]), _task_name(owner))
        elif kind in ("event", "sem", "cond"):
            sname = {"event": "corio_event", "sem": "corio_sem", "cond": "corio_cond"}[kind]
            o = _container(ctx, sname, "wq")
            out = "%s 0x%x" % ({"sem": "semaphore", "cond": "condition"}.get(kind, kind),
                               _u64(o) if o is not None else _u64(ctx))
        elif kind in ("queue_get", "queue_put"):
            member = "getters" if kind == "queue_get" else "putters"
            q = _container(ctx, "corio_queue", member)
            out = "queue 0x%x (%s)" % (_u64(q) if q is not None else _u64(ctx),
                                       "get, empty" if kind == "queue_get" else "put, full")
        elif kind == "group":
            out = "group 0x%x" % _u64(ctx)
        elif kind == "op":
            out = "io_uring operation"
            if int(w["interrupted"]):
                out += " (cancel submitted)"
    except (gdb.error, gdb.MemoryError):
        pass
    try:
        if int(w["timer"]["idx"]) != 0xFFFFFFFF:
            res = int(w["timer_res"])
            deadline = int(w["timer"]["deadline"])
            kind = "deadline" if res == -110 else "timer"  # -ETIMEDOUT
            if _is_live():
                # corio's clock is CLOCK_MONOTONIC, the same for gdb.
                out += ", %s in %.1f ms" % (kind, (deadline - time.monotonic_ns()) / 1e6)
            else:
                out += ", %s at %d ns (CLOCK_MONOTONIC)" % (kind, deadline)
    except (gdb.error, gdb.MemoryError):
        pass
    return out


def _is_live():
    """A running process (not a core file)."""
    try:
        conn = gdb.selected_inferior().connection
    except AttributeError:
        return False
    return conn is not None and conn.type != "core"


_trampoline = None


def _trampoline_addr():
    global _trampoline
    if _trampoline is None:
        _trampoline = 0
        try:
            _trampoline = _u64(gdb.parse_and_eval("(unsigned long)&corio__ctx_trampoline"))
        except gdb.error:
            pass
    return _trampoline


def _symbolize(pc, is_return):
    """'func (inlined into outer) at file:line', or what `info symbol` knows."""
    look = pc - 1 if is_return else pc
    if look <= 0:
        return "??"
    funcs = []
    try:
        b = gdb.block_for_pc(look)
    except RuntimeError:
        b = None
    while b is not None:
        if b.function is not None:
            funcs.append(b.function.print_name)
        b = b.superblock
    where = ""
    sal = gdb.find_pc_line(look)
    if sal.symtab is not None and sal.line:
        where = " at %s:%d" % (sal.symtab.filename, sal.line)
    if funcs:
        s = funcs[0]
        if len(funcs) > 1:
            s += " (inlined into %s)" % " <- ".join(funcs[1:])
        return s + where
    try:
        info = gdb.execute("info symbol 0x%x" % look, to_string=True).strip()
    except gdb.error:
        info = ""
    if info and not info.startswith("No symbol"):
        # "raise + 203 in section .text of /lib/.../libc.so.6"
        sym = info.split(" in section ")[0]
        lib = ""
        if " of " in info:
            lib = " from " + info.rsplit(" of ", 1)[1]
        return sym.replace(" + ", "+") + lib + where
    return "??" + where


def _frames(t, lo, hi):
    """[(pc, is_return)] of a suspended task, from its saved frame."""
    sp = _u64(t["ctx"]["sp"])
    if not (lo <= sp and sp + 64 <= hi):
        return None
    fp_off, pc_off, mask = _frame_offsets()
    rip = _read_u64(sp + pc_off) & mask
    bp = _read_u64(sp + fp_off)
    # A task that never ran resumes at the trampoline's first instruction:
    # not a return address.
    out = [(rip, rip != _trampoline_addr())]
    while len(out) < MAX_FRAMES and lo <= bp and bp + 16 <= hi and bp % 8 == 0:
        nxt = _read_u64(bp)
        ret = _read_u64(bp + 8) & mask
        if not ret:
            break
        out.append((ret, True))
        if nxt <= bp:
            break
        bp = nxt
    return out


def _thread_on(lo, hi):
    """The gdb thread whose stack pointer is in [lo, hi), or None."""
    inf = gdb.selected_inferior()
    try:
        old = gdb.selected_thread()
    except gdb.error:
        old = None
    found = None
    try:
        for th in inf.threads():
            try:
                th.switch()
                frame = gdb.newest_frame()
                sp = _u64(frame.read_register("rsp"))
            except (gdb.error, RuntimeError):
                continue
            if lo <= sp < hi:
                found = th
                break
    finally:
        if old is not None and old.is_valid():
            old.switch()
    return found


def _dump_task(t, l, why, backtraces):
    state = int(t["state"])
    line = "  task %d '%s' %s" % (int(t["id"]), _task_name(t), STATES.get(state, "state %d" % state))
    w = t["wait"]
    if state == 3 and _u64(w):
        if _u64(w["task"]) != _u64(t):
            # The record lives on the task's stack: not in this core file?
            line += " on ? (wait record unreadable)"
        else:
            line += " on " + _describe_wait(w.dereference(), why)
    if int(t["cancelled"]):
        line += " (cancelled)"
    scope = t["scope"]
    if _u64(scope):
        try:
            line += " (in a %s scope)" % ("shield" if int(scope["is_shield"]) else "deadline")
        except (gdb.error, gdb.MemoryError):
            pass
    stack = t["stack"]
    lo = hi = 0
    if _u64(stack):
        lo = _u64(stack["lo"])
        hi = _u64(stack["hi"])
        line += " stack 0x%x-0x%x" % (lo, hi)
    gdb.write(line + "\n")
    if not backtraces or not hi:
        return
    if state == 2 or _u64(l["current"]) == _u64(t):
        th = _thread_on(lo, hi)
        if th is not None:
            gdb.write("      running on thread %d (LWP %d): `thread %d` then `bt`\n"
                      % (th.num, th.ptid[1], th.num))
        else:
            gdb.write("      running: select its loop's thread and use `bt`\n")
        return
    try:
        frames = _frames(t, lo, hi)
    except gdb.MemoryError as e:
        gdb.write("      (stack unreadable: %s)\n" % e)
        return
    if frames is None:
        gdb.write("      (saved stack pointer 0x%x is off the task's stack)\n"
                  % _u64(t["ctx"]["sp"]))
        return
    if frames[0][0] == 0:
        gdb.write("      (the saved frame reads as zeros: the task's stack is not in this "
                  "core file?)\n")
        return
    for i, (pc, is_ret) in enumerate(frames):
        gdb.write("      #%-2d 0x%016x in %s\n" % (i, pc, _symbolize(pc, is_ret)))


def _loop_threads():
    """loop address -> gdb thread, from each thread's corio__tls_loop (best
    effort: reading TLS needs libthread_db)."""
    out = {}
    try:
        old = gdb.selected_thread()
    except gdb.error:
        old = None
    try:
        for th in gdb.selected_inferior().threads():
            try:
                th.switch()
                l = _u64(gdb.parse_and_eval("corio__tls_loop"))
            except (gdb.error, gdb.MemoryError, RuntimeError):
                continue
            if l:
                out[l] = th
    finally:
        if old is not None and old.is_valid():
            old.switch()
    return out


def _loops():
    try:
        l = gdb.parse_and_eval("corio__loops")
    except gdb.error as e:
        raise gdb.GdbError("corio-tasks: cannot read corio__loops (%s): is this a corio "
                           "program, with debug info?" % e)
    seen = set()
    while _u64(l) and _u64(l) not in seen:
        seen.add(_u64(l))
        yield l
        l = l["reg_next"]


class CorioTasks(gdb.Command):
    """List every task of every corio loop: id, name, state, wait, backtrace.

Usage: corio-tasks [-q]
  -q   no backtraces
Suspended tasks are unwound from their saved context (frame pointers);
for the running task, select its thread and use `bt`."""

    def __init__(self):
        super(CorioTasks, self).__init__("corio-tasks", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        args = gdb.string_to_argv(arg)
        backtraces = "-q" not in args
        for a in args:
            if a != "-q":
                raise gdb.GdbError("corio-tasks: unknown argument %r (usage: corio-tasks [-q])" % a)
        why = _why_names()
        threads = _loop_threads()
        nloops = 0
        for l in _loops():
            nloops += 1
            try:
                th = threads.get(_u64(l))
                gdb.write("corio: loop %d (0x%x)%s%s: %d task(s)\n"
                          % (int(l["index"]), _u64(l),
                             " on thread %d (LWP %d)" % (th.num, th.ptid[1]) if th else "",
                             " [debug]" if int(l["debug"]) else "", int(l["nalive"])))
                t = l["alive"]
                n = 0
                while _u64(t) and n < 1000000:
                    try:
                        _dump_task(t, l, why, backtraces)
                    except (gdb.error, gdb.MemoryError, ValueError, OverflowError) as e:
                        gdb.write("  task at 0x%x: unreadable (%s)\n" % (_u64(t), e))
                    t = t["next_alive"]
                    n += 1
            except gdb.MemoryError as e:
                gdb.write("  (loop memory unreadable: %s)\n" % e)
        if nloops == 0:
            gdb.write("corio: no loop is running\n")


CorioTasks()
