#include "fringe/stack/guard_registry.h"

#include <sys/mman.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>
#include <optional>

namespace fringe {
namespace {

// The registry is a chain of open-addressing hash tables keyed by the first
// byte of each registered range, each table twice the size of the one before.
// An entry goes into the first table with a free slot within kProbeWindow
// slots of its hash; only when none has one is a new table appended. Tables
// are never freed or moved, so FindGuard() can walk them with plain loads at
// any moment, from any signal handler.
//
// A slot's `key` says what the slot holds:
constexpr std::uintptr_t kEmpty = 0;      // Never used since mapped.
constexpr std::uintptr_t kTombstone = 1;  // Used before; free again.
constexpr std::uintptr_t kBusy = 2;       // Being filled in by a registrant.
// Any larger value: the `begin` of a published entry.
//
// Slots go from kEmpty to something else and never back, so an insertion
// always lands before the first kEmpty slot of its window (it would have
// taken that slot otherwise). Lookups by key can therefore stop at kEmpty:
// the key is neither further along this window nor in a later table. That
// keeps UnregisterSlab() O(1) while tables have room.

constexpr std::size_t kProbeWindow = 32;
// 32 KiB of zeroed .bss: one page touched per 128 live entries, and no
// mmap at all for the few hundred entries of a typical process.
constexpr std::size_t kFirstCapacity = 1024;

// The fields besides `key` are atomics only so that FindGuard() may read a
// slot while it is being rewritten; FindGuard() rejects such torn reads by
// reading `key` again (see there).
struct Slot {
  std::atomic<std::uintptr_t> key{kEmpty};
  std::atomic<std::uintptr_t> stride{0};
  std::atomic<std::uintptr_t> count{0};
  std::atomic<std::uintptr_t> guard_size{0};
};

struct Table {
  constexpr Table(Slot* slots, std::size_t capacity, int log2_capacity)
      : slots(slots), capacity(capacity), log2_capacity(log2_capacity) {}

  Slot* const slots;
  const std::size_t capacity;  // A power of two.
  const int log2_capacity;
  std::atomic<Table*> next{nullptr};
};

constinit Slot first_slots[kFirstCapacity];
constinit Table first_table(first_slots, kFirstCapacity, 10);
static_assert(std::size_t{1} << 10 == kFirstCapacity);

// Serializes growth only; registration itself never takes it.
constinit std::mutex grow_mutex;

// Fibonacci hashing of the page number: registered ranges start on page
// boundaries, so the low bits carry nothing. 64-bit arithmetic on every
// target so that 32-bit builds hash as well.
std::size_t Home(const Table& table, std::uintptr_t key) {
  const std::uint64_t page = static_cast<std::uint64_t>(key) >> 12;
  return static_cast<std::size_t>((page * 0x9E3779B97F4A7C15u) >>
                                  (64 - table.log2_capacity));
}

std::size_t Window(const Table& table) {
  return table.capacity < kProbeWindow ? table.capacity : kProbeWindow;
}

bool TryInsert(Table& table, std::uintptr_t key, std::size_t stride,
               std::size_t count, std::size_t guard_size) {
  const std::size_t mask = table.capacity - 1;
  const std::size_t home = Home(table, key);
  for (std::size_t i = 0; i < Window(table); ++i) {
    Slot& slot = table.slots[(home + i) & mask];
    std::uintptr_t seen = slot.key.load(std::memory_order_relaxed);
    if (seen != kEmpty && seen != kTombstone) continue;
    // Another registrant may take the slot first; then look further on.
    if (!slot.key.compare_exchange_strong(seen, kBusy,
                                          std::memory_order_relaxed)) {
      continue;
    }
    // Orders kBusy before the field stores, so that a reader that sees any
    // of the new fields also sees `key` change when it checks again.
    std::atomic_thread_fence(std::memory_order_release);
    slot.stride.store(stride, std::memory_order_relaxed);
    slot.count.store(count, std::memory_order_relaxed);
    slot.guard_size.store(guard_size, std::memory_order_relaxed);
    slot.key.store(key, std::memory_order_release);
    return true;
  }
  return false;
}

// The table after `full`, mapping it if nobody has yet; null if mmap fails.
Table* NextTable(Table& full) {
  if (Table* next = full.next.load(std::memory_order_acquire)) return next;
  std::lock_guard<std::mutex> lock(grow_mutex);
  if (Table* next = full.next.load(std::memory_order_acquire)) return next;
  const std::size_t capacity = full.capacity * 2;
  // The header goes in front of the slots, padded to a cache line.
  constexpr std::size_t kHeader = (sizeof(Table) + 63) / 64 * 64;
  // mmap, not operator new: the tables are read by a signal handler that may
  // run after the heap is corrupted, and must never be freed.
  void* memory =
      ::mmap(nullptr, kHeader + capacity * sizeof(Slot), PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (memory == MAP_FAILED) return nullptr;
  auto* slots =
      reinterpret_cast<Slot*>(static_cast<std::byte*>(memory) + kHeader);
  for (std::size_t i = 0; i < capacity; ++i) new (&slots[i]) Slot;
  Table* next = new (memory) Table(slots, capacity, full.log2_capacity + 1);
  full.next.store(next, std::memory_order_release);
  return next;
}

}  // namespace

// Where the tables are and how they are laid out, for debuggers: gdb has no
// type information for the anonymous namespace above in a build without -g,
// and tools/gdb/fringe.py must not guess offsets. Constant data that nothing
// in the process reads, so it costs nothing at run time; `used` and `retain`
// keep it through -O2 and --gc-sections. Bump `version` when the meaning of
// a field changes.
extern "C" {
struct FringeGuardRegistryDebug {
  std::uint32_t version;  // 1.
  std::uint32_t slot_size;
  // Offsets of Slot's words.
  std::uint32_t slot_key, slot_stride, slot_count, slot_guard_size;
  // Offsets of Table's members.
  std::uint32_t table_slots, table_capacity, table_next;
  std::uint32_t padding;
  // Keys at or below this are no entry (kEmpty, kTombstone, kBusy).
  std::uintptr_t last_free_key;
  const void* first_table;
};
extern const FringeGuardRegistryDebug fringe_guard_registry_debug;
}

#if defined(__has_attribute)
#if __has_attribute(retain)
#define FRINGE_RETAIN __attribute__((retain))
#endif
#endif
#if !defined(FRINGE_RETAIN)
#define FRINGE_RETAIN
#endif

// offsetof on types with std::atomic members: GCC warns that they are not
// standard-layout on paper; every ABI fringe supports lays them out plainly.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"
__attribute__((used)) FRINGE_RETAIN constinit const FringeGuardRegistryDebug
    fringe_guard_registry_debug = {
        1,
        sizeof(Slot),
        offsetof(Slot, key),
        offsetof(Slot, stride),
        offsetof(Slot, count),
        offsetof(Slot, guard_size),
        offsetof(Table, slots),
        offsetof(Table, capacity),
        offsetof(Table, next),
        0,
        kBusy,
        &first_table,
};
#pragma GCC diagnostic pop
#undef FRINGE_RETAIN

bool RegisterSlab(void* begin, std::size_t stride, std::size_t count,
                  std::size_t guard_size) {
  const auto key = reinterpret_cast<std::uintptr_t>(begin);
  if (key <= kBusy || count == 0 || guard_size == 0 || guard_size >= stride) {
    return false;
  }
  for (Table* table = &first_table; table != nullptr;
       table = NextTable(*table)) {
    if (TryInsert(*table, key, stride, count, guard_size)) return true;
  }
  return false;
}

void UnregisterSlab(void* begin) {
  const auto key = reinterpret_cast<std::uintptr_t>(begin);
  if (key <= kBusy) return;
  for (Table* table = &first_table; table != nullptr;
       table = table->next.load(std::memory_order_acquire)) {
    const std::size_t mask = table->capacity - 1;
    const std::size_t home = Home(*table, key);
    for (std::size_t i = 0; i < Window(*table); ++i) {
      Slot& slot = table->slots[(home + i) & mask];
      const std::uintptr_t seen = slot.key.load(std::memory_order_relaxed);
      if (seen == key) {
        slot.key.store(kTombstone, std::memory_order_release);
        return;
      }
      if (seen == kEmpty) return;  // See kEmpty above.
    }
  }
}

std::optional<GuardedStack> FindGuard(const void* address) {
  const auto target = reinterpret_cast<std::uintptr_t>(address);
  for (const Table* table = &first_table; table != nullptr;
       table = table->next.load(std::memory_order_acquire)) {
    for (std::size_t i = 0; i < table->capacity; ++i) {
      const Slot& slot = table->slots[i];
      const std::uintptr_t begin = slot.key.load(std::memory_order_acquire);
      if (begin <= kBusy || target < begin) continue;
      const std::uintptr_t stride = slot.stride.load(std::memory_order_relaxed);
      const std::uintptr_t count = slot.count.load(std::memory_order_relaxed);
      const std::uintptr_t guard =
          slot.guard_size.load(std::memory_order_relaxed);
      // Seqlock-style validation: if the slot was unregistered and reused
      // while we read it, `key` has changed (to kTombstone, kBusy or another
      // begin), and the fields may be a mix; skip them. Reuse with the very
      // same begin inside these few loads would go unnoticed, but could only
      // misreport an address in that one range.
      std::atomic_thread_fence(std::memory_order_acquire);
      if (slot.key.load(std::memory_order_relaxed) != begin || stride == 0) {
        continue;
      }
      const std::uintptr_t offset = target - begin;
      const std::uintptr_t index = offset / stride;
      if (index >= count || offset % stride >= guard) continue;
      auto* limit =
          reinterpret_cast<std::byte*>(begin + index * stride + guard);
      return GuardedStack{limit, limit + (stride - guard), stride - guard};
    }
  }
  return std::nullopt;
}

}  // namespace fringe
