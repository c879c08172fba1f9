#!/usr/bin/env python3
"""perfstacks.py - what `make perf` does with `perf script` output.

    perfstacks.py fold  < perf-script.txt > stacks.folded
    perfstacks.py check < perf-script.txt       (task stacks, a short text)
    perfstacks.py svg TITLE < stacks.folded > flame.svg

The input of fold and check is `perf script -F comm,tid,ip,sym,dso`: a
header line per sample, then one indented "address symbol (object)" line
per frame, leaf first, and a blank line. An address perf could not name is
shown as [object] when its object is known.

fold writes one line per distinct stack, "comm;outermost;...;leaf count",
the folded format flame graph tools read.

check tells whether perf unwound through corio's task stacks: a sample is
in a task when its chain passes corio__task_entry or
corio__ctx_trampoline (the first frame of every context corio makes, which
zeroes the frame pointer), and its stack is clean when the chain ends
exactly there rather than in a stray address past the task's stack.

svg draws a flame graph: the outermost frame at the bottom, each frame as
wide as its share of the samples, one colour per function (by name), the
full name and the count in a tooltip. No scripts, nothing to fetch: a plain
SVG any browser shows.
"""
import html
import sys
import zlib

TASK_ROOT = "corio__ctx_trampoline"
TASK_ENTRY = "corio__task_entry"


def samples(lines):
    """Yields (comm, [frames leaf first]) for each sample."""
    comm, frames = None, []
    for raw in lines:
        line = raw.rstrip("\n")
        if not line.strip():
            if comm is not None:
                yield comm, frames
            comm, frames = None, []
            continue
        if line[0] in " \t":
            parts = line.split(None, 1)
            sym = parts[1] if len(parts) > 1 else "[unknown]"
            # "sym+0x1f (dso)": keep the name; an unnamed address is
            # named after its object where perf knows it.
            dso = ""
            if sym.endswith(")") and " (" in sym:
                sym, dso = sym[:-1].rsplit(" (", 1)
            if "+0x" in sym:
                sym = sym.rsplit("+0x", 1)[0]
            if sym == "[unknown]" and dso and dso != "[unknown]":
                sym = "[%s]" % dso.rsplit("/", 1)[-1]
            frames.append(sym)
        else:
            if comm is not None:
                yield comm, frames
            # "comm tid": the comm itself may contain spaces.
            head = line.rstrip()
            comm = head.rsplit(None, 1)[0] if " " in head else head
            frames = []
    if comm is not None:
        yield comm, frames


def fold(inp, out):
    counts = {}
    for comm, frames in samples(inp):
        key = ";".join([comm.replace(";", ":")] +
                       [f.replace(";", ":") for f in reversed(frames)])
        counts[key] = counts.get(key, 0) + 1
    for key in sorted(counts):
        out.write("%s %d\n" % (key, counts[key]))


def check(inp, out):
    total = in_task = clean = lost = 0
    bad, good, lost_at = {}, {}, {}
    for _comm, frames in samples(inp):
        total += 1
        if frames and frames[-1] == "[unknown]":
            # The chain ran into an address that belongs to nothing: a
            # caller without frame pointers broke it. Name the last frame
            # that made sense.
            lost += 1
            known = [f for f in frames if f != "[unknown]"]
            where = known[-1] if known else "?"
            lost_at[where] = lost_at.get(where, 0) + 1
        if TASK_ROOT not in frames and TASK_ENTRY not in frames:
            continue
        in_task += 1
        if frames and frames[-1] == TASK_ROOT:
            clean += 1
            if len(frames) > 2:
                key = " <- ".join(frames[:8]) + (" <- ..." if len(frames) > 8 else "")
                good[key] = good.get(key, 0) + 1
        else:
            tail = ";".join(reversed(frames[-4:]))
            bad[tail] = bad.get(tail, 0) + 1
    pct = 100.0 * clean / in_task if in_task else 0.0
    out.write("samples: %d; on task stacks: %d; ending at %s: %d (%.1f%%)\n"
              % (total, in_task, TASK_ROOT, clean, pct))
    if good:
        chain, n = max(good.items(), key=lambda kv: kv[1])
        if chain.endswith(TASK_ROOT):
            out.write("  most common task stack (%d samples, leaf first): %s\n" % (n, chain))
        else:
            out.write("  most common task stack (%d samples, leaf first, cut): %s\n" % (n, chain))
    for tail, n in sorted(bad.items(), key=lambda kv: -kv[1])[:5]:
        out.write("  not clean (%d): ...%s\n" % (n, tail))
    if lost:
        out.write("samples whose chain ends in an unresolved address (frame pointers "
                  "missing in a caller): %d (%.1f%%), after:" % (lost, 100.0 * lost / total))
        for where, n in sorted(lost_at.items(), key=lambda kv: -kv[1])[:3]:
            out.write(" %s (%d)" % (where, n))
        out.write("\n")
    return in_task, clean


class Node:
    __slots__ = ("name", "count", "kids")

    def __init__(self, name):
        self.name, self.count, self.kids = name, 0, {}


def colour(name):
    """A warm colour fixed by the name, so a function keeps its colour
    across graphs; corio's own functions in a cooler band to find them."""
    h = zlib.crc32(name.encode())
    if name.startswith("corio"):
        return "rgb(%d,%d,%d)" % (90 + h % 60, 150 + (h >> 8) % 70, 200 + (h >> 16) % 50)
    return "rgb(%d,%d,%d)" % (205 + h % 50, 80 + (h >> 8) % 130, 30 + (h >> 16) % 50)


def svg(inp, out, title):
    root = Node("all")
    for line in inp:
        line = line.rstrip("\n")
        if not line:
            continue
        stack, _, n = line.rpartition(" ")
        try:
            n = int(n)
        except ValueError:
            continue
        root.count += n
        node = root
        for name in stack.split(";"):
            node = node.kids.setdefault(name, Node(name))
            node.count += n

    width, fh, pad_top, pad_bottom = 1200, 16, 40, 10
    depth = [0]

    def measure(node, d):
        depth[0] = max(depth[0], d)
        for k in node.kids.values():
            measure(k, d + 1)

    measure(root, 0)
    height = pad_top + (depth[0] + 1) * fh + pad_bottom
    scale = (width - 20) / root.count if root.count else 0
    rects = []

    def draw(node, x, d):
        w = node.count * scale
        if w < 0.3:
            return
        y = height - pad_bottom - (d + 1) * fh
        pct = 100.0 * node.count / root.count
        tip = html.escape("%s (%d samples, %.2f%%)" % (node.name, node.count, pct))
        label = ""
        chars = int(w / 7)
        if chars >= 3:
            text = node.name if len(node.name) <= chars else node.name[:chars - 2] + ".."
            label = '<text x="%.1f" y="%d">%s</text>' % (x + 3, y + fh - 4, html.escape(text))
        rects.append('<g><title>%s</title><rect x="%.1f" y="%d" width="%.1f" height="%d" '
                     'fill="%s" rx="2"/>%s</g>' % (tip, x, y, w, fh - 1, colour(node.name), label))
        for k in sorted(node.kids.values(), key=lambda k: k.name):
            draw(k, x, d + 1)
            x += k.count * scale

    if root.count:
        draw(root, 10, 0)
    out.write('<?xml version="1.0" standalone="no"?>\n')
    out.write('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
              'font-family="monospace" font-size="11">\n' % (width, height))
    out.write('<rect width="100%" height="100%" fill="#f8f8f2"/>\n')
    out.write('<text x="%d" y="24" font-size="15" text-anchor="middle">%s</text>\n'
              % (width // 2, html.escape("%s (%d samples)" % (title, root.count))))
    out.write("\n".join(rects))
    out.write("\n</svg>\n")


def main(argv):
    if len(argv) >= 2 and argv[1] == "fold":
        fold(sys.stdin, sys.stdout)
    elif len(argv) >= 2 and argv[1] == "check":
        check(sys.stdin, sys.stdout)
    elif len(argv) >= 2 and argv[1] == "svg":
        svg(sys.stdin, sys.stdout, argv[2] if len(argv) > 2 else "flame graph")
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
