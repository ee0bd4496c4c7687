# tools/gdb/fringe.py: gdb commands for fringe generators.
#
# A suspended generator has no thread, so `info threads` and `bt` never show
# its frames. These commands find every live generator of the process and
# print the backtrace of a suspended one:
#
#   (gdb) source /path/to/fringe/tools/gdb/fringe.py
#   (gdb) fringe generators        # or: info fringe-generators
#   (gdb) fringe bt 2              # backtrace of generator 2 (from the list)
#   (gdb) fringe bt 2 -full        # anything after N goes to gdb's `bt`
#
# How generators are found, without debug information:
#  - fringe/stack/guard_registry.cc lists every guarded stack (OsStack, and
#    StackPool slabs) and describes its own tables in the extern "C" constant
#    `fringe_guard_registry_debug`. Stacks that are not guarded (OwnedStack,
#    SliceStack) are not listed, and neither are their generators.
#  - Every generator writes a StackRecord at the top of its stack
#    (fringe/generator/internal/stack_record.h): a magic word, then a pointer
#    to its ToolState {limit, frames_base, suspended}. A released generator's
#    record is retired (its magic zeroed).
#  - A suspended context's stack pointer points at [saved frame pointer]
#    [resume address]; the code resumes at that address with the stack
#    pointer the per-CPU header in fringe/arch/ draws. `fringe bt` loads those
#    three registers into the selected thread, runs `bt`, and puts the
#    thread's own registers back, also when `bt` fails. It needs a live
#    process (gdb cannot write a core file's registers).
#
# Keep in step with stack_record.h, guard_registry.cc and fringe/arch/*.h.

import gdb

_MAGIC = 0x6672696E67652D31  # "fringe-1", kStackRecordMagic
_REGISTRY_SYMBOL = "fringe_guard_registry_debug"
_REGISTRY_VERSION = 1


class _Cpu(object):
    """How a suspended context is laid out on one CPU (fringe/arch/*.h)."""

    def __init__(self, sp, pc, fp, resume_sp_offset):
        self.sp = sp
        self.pc = pc
        self.fp = fp
        # The stack pointer the suspended code runs with once it resumes,
        # relative to the one it handed over: past [fp][resume address], and
        # on x86_64 past the 128-byte red zone the switch stepped over.
        self.resume_sp_offset = resume_sp_offset


# Keyed by gdb's architecture name.
_CPUS = {
    "i386:x86-64": _Cpu("rsp", "rip", "rbp", 16 + 128),
    "i386": _Cpu("esp", "eip", "ebp", 8),
    "aarch64": _Cpu("sp", "pc", "x29", 16),
    "riscv:rv64": _Cpu("sp", "pc", "s0", 16),
}


def _inferior():
    inferior = gdb.selected_inferior()
    if inferior is None or inferior.pid == 0:
        raise gdb.GdbError("fringe: no process; start the program first")
    return inferior


def _cpu():
    name = gdb.selected_frame().architecture().name()
    if name not in _CPUS:
        raise gdb.GdbError(
            "fringe: CPU %r is not one fringe's gdb commands know (%s)"
            % (name, ", ".join(sorted(_CPUS)))
        )
    return _CPUS[name]


class _Memory(object):
    def __init__(self):
        self.inferior = _inferior()
        self.ptr = gdb.lookup_type("void").pointer().sizeof
        endian = gdb.execute("show endian", to_string=True)
        self.order = "big" if "big endian" in endian else "little"

    def read(self, address, size):
        return bytes(self.inferior.read_memory(address, size))

    def word(self, address, size=None):
        size = size or self.ptr
        return int.from_bytes(self.read(address, size), self.order)

    def words(self, address, count, size=None):
        size = size or self.ptr
        data = self.read(address, count * size)
        return [
            int.from_bytes(data[i * size : (i + 1) * size], self.order)
            for i in range(count)
        ]


class Generator(object):
    def __init__(self, limit, base, frames_base, suspended):
        self.limit = limit
        self.base = base
        self.frames_base = frames_base
        self.suspended = suspended  # Saved stack pointer, or 0.


def _registry_address():
    try:
        return int(gdb.parse_and_eval("(unsigned long)&" + _REGISTRY_SYMBOL))
    except gdb.error:
        raise gdb.GdbError(
            "fringe: symbol %s not found: the program has no fringe guard "
            "registry (it creates no OsStack or StackPool), or it is stripped"
            % _REGISTRY_SYMBOL
        )


def _guarded_stacks(memory):
    """Yields (limit, base) of every stack in fringe's guard registry."""
    at = _registry_address()
    fields = memory.words(at, 10, 4)
    (version, slot_size, key_off, stride_off, count_off, guard_off,
     slots_off, capacity_off, next_off, _) = fields
    if version != _REGISTRY_VERSION:
        raise gdb.GdbError(
            "fringe: guard registry version %d, this script reads %d: use "
            "the tools/gdb/fringe.py of the fringe the program was built with"
            % (version, _REGISTRY_VERSION)
        )
    last_free_key, table = memory.words(at + 40, 2)
    while table != 0:
        slots = memory.word(table + slots_off)
        capacity = memory.word(table + capacity_off)
        data = memory.read(slots, capacity * slot_size)
        for i in range(capacity):
            slot = i * slot_size

            def field(offset):
                start = slot + offset
                return int.from_bytes(data[start : start + memory.ptr],
                                      memory.order)

            key = field(key_off)
            if key <= last_free_key:
                continue
            stride, count, guard = (field(stride_off), field(count_off),
                                    field(guard_off))
            if stride == 0 or guard >= stride:
                continue  # Being rewritten right now.
            for n in range(count):
                begin = key + n * stride
                yield begin + guard, begin + stride
        table = memory.word(table + next_off)


def _generator_on(memory, limit, base):
    """The generator whose StackRecord is at the top of [limit, base)."""
    record = base - 8 - memory.ptr  # stack_record.h: {uint64 magic; ToolState*}
    try:
        if memory.word(record, 8) != _MAGIC:
            return None
        state = memory.word(base - memory.ptr)
        if not limit <= state < base:
            return None
        tool_limit, frames_base, suspended = memory.words(state, 3)
    except gdb.MemoryError:
        return None
    if tool_limit != limit or not limit < frames_base <= base:
        return None
    if suspended != 0 and not limit <= suspended < frames_base:
        return None
    return Generator(limit, base, frames_base, suspended)


def generators():
    """Every live generator on a guarded stack, in registry order."""
    memory = _Memory()
    found = []
    for limit, base in _guarded_stacks(memory):
        generator = _generator_on(memory, limit, base)
        if generator is not None:
            found.append(generator)
    return found


def _thread_running_on(generator, cpu):
    """The number of a thread whose stack pointer is on the generator's
    stack, or None."""
    selected = gdb.selected_thread()
    try:
        for thread in _inferior().threads():
            thread.switch()
            sp = int(gdb.newest_frame().read_register(cpu.sp))
            if generator.limit <= sp < generator.base:
                return thread.num
    finally:
        if selected is not None:
            selected.switch()
    return None


def _state(generator, cpu):
    if generator.suspended != 0:
        return "suspended"
    thread = _thread_running_on(generator, cpu)
    if thread is not None:
        return "running (thread %d)" % thread
    return "new, or running below another context"


def _pick(argument):
    words = argument.split(None, 1)
    if not words:
        raise gdb.GdbError("usage: fringe bt N [bt options], N from "
                           "`fringe generators`")
    try:
        number = int(words[0], 0)
    except ValueError:
        raise gdb.GdbError("fringe bt: %r is no generator number" % words[0])
    found = generators()
    if not 1 <= number <= len(found):
        raise gdb.GdbError("fringe bt: no generator %d (there are %d; see "
                           "`fringe generators`)" % (number, len(found)))
    return number, found[number - 1], words[1] if len(words) > 1 else ""


class FringePrefix(gdb.Command):
    """Commands for fringe generators: fringe generators, fringe bt N."""

    def __init__(self):
        super(FringePrefix, self).__init__("fringe", gdb.COMMAND_STACK,
                                           prefix=True)


class FringeGenerators(gdb.Command):
    """Lists the live generators of the process (those on OsStack and
StackPool stacks): number, state, stack range [limit, base), size, and the
saved stack pointer of a suspended one. `fringe bt N` prints the backtrace
of suspended generator N."""

    def __init__(self, name):
        super(FringeGenerators, self).__init__(name, gdb.COMMAND_STACK)

    def invoke(self, argument, from_tty):
        cpu = _cpu()
        found = generators()
        if not found:
            print("No live fringe generators on guarded stacks.")
            return
        width = 2 + 2 * _Memory().ptr
        print("%3s  %-*s  %8s  %-*s  %s" % (
            "#", 2 * width + 4, "stack [limit, base)", "bytes", width,
            "saved sp", "state"))
        for number, g in enumerate(found, 1):
            print("%3d  %-*s  %8d  %-*s  %s" % (
                number, 2 * width + 4, "[%#x, %#x)" % (g.limit, g.base),
                g.base - g.limit, width,
                "%#x" % g.suspended if g.suspended else "-", _state(g, cpu)))


class FringeBacktrace(gdb.Command):
    """fringe bt N [bt options]: the backtrace of suspended generator N (see
`fringe generators`), from where it suspended down to its first frame. The
selected thread's registers are borrowed for the duration of `bt` and
restored afterwards."""

    def __init__(self):
        super(FringeBacktrace, self).__init__("fringe bt", gdb.COMMAND_STACK)

    def invoke(self, argument, from_tty):
        number, g, options = _pick(argument)
        if g.suspended == 0:
            raise gdb.GdbError(
                "fringe bt: generator %d is not suspended (it is new, or "
                "running: its thread's own `bt` shows it)" % number)
        cpu = _cpu()
        memory = _Memory()
        fp = memory.word(g.suspended)
        pc = memory.word(g.suspended + memory.ptr)
        sp = g.suspended + cpu.resume_sp_offset
        gdb.newest_frame().select()
        frame = gdb.selected_frame()
        saved = [(r, int(frame.read_register(r))) for r in
                 (cpu.fp, cpu.pc, cpu.sp)]
        print("Generator %d, stack [%#x, %#x), suspended at sp %#x:" %
              (number, g.limit, g.base, g.suspended))
        try:
            for register, value in ((cpu.fp, fp), (cpu.pc, pc), (cpu.sp, sp)):
                gdb.execute("set $%s = %#x" % (register, value))
            # The generator's own frames end at the entry trampoline; below
            # it the unwinder would follow the link to wherever the last
            # resumer's stack was, which has moved on since.
            count = 0
            f = gdb.newest_frame()
            try:
                while f is not None and count < 100000:
                    frame_sp = int(f.read_register(cpu.sp))
                    if not g.limit <= frame_sp < g.base:
                        break
                    count += 1
                    f = f.older()
            except gdb.error:
                pass
            gdb.execute("backtrace %d %s" % (max(count, 1), options))
            print("(the generator's first frame: the frames below it belong "
                  "to whoever resumes it)")
        finally:
            for register, value in saved:
                gdb.execute("set $%s = %#x" % (register, value))
            gdb.newest_frame().select()


FringePrefix()
FringeGenerators("fringe generators")
FringeGenerators("info fringe-generators")
FringeBacktrace()
