// engine_slots.hpp — header-only C++17 RAII layer over the engine-slots C ABI.
//
//   #include <engine_slots.hpp>
//   namespace es = engine_slots;
//
//   es::Table table(es::Config{}.engines(8).tickets(1024).capacity(2));
//   table.add_engine("engine-15");
//   if (std::optional<es::Ticket> t = table.reserve()) {   // nullopt: no room
//     std::string engine(table.stats(t->engine()).key());
//     start_stream_on(engine);     // may throw: t cancels itself
//     t->commit();                 // the stream runs
//     ...
//   }                              // t releases itself here
//
// Ownership. `Table` owns an `es_table*` and frees it when destroyed. `Ticket`
// owns one claim on one engine and, when destroyed, cancels it (pending) or
// releases it (active), so a slot cannot leak through an exception or an
// early return. Both are move-only. A `Ticket` refers to its table by the C
// pointer, which moving the `Table` object does not change: a ticket stays
// usable when its `Table` is moved, but the table itself (the last `Table`
// object owning it) must outlive every ticket taken from it.
//
// Errors: exceptions. A C status other than ES_OK is thrown as
// `engine_slots::Error` (a `std::runtime_error` carrying the `es_status`),
// with three deliberate exceptions, because they are answers, not faults:
//   * "no engine has room" (ES_NO_CAPACITY): `reserve()` / `reserve_on()`
//     return `std::nullopt`;
//   * "no engine with that key" (ES_ERR_NOT_FOUND): `find_engine()` returns
//     `std::nullopt`;
//   * finishing a ticket that is already finished (ES_ERR_STALE, e.g. its
//     lease ran out and it was reclaimed): `Ticket::cancel()` and
//     `Ticket::release()` are `noexcept` and return `false`, since the slot
//     is back either way and they are meant for cleanup paths.
// Destructors never throw.
//
// Threads. Every `Table` member function except assignment and destruction
// may be called from many threads at once (reserve/commit/cancel/release/
// touch are lock-free in the C table). A `Ticket` object, like any C++
// object, must not be used from two threads at once; different tickets may
// be used freely in parallel.
#ifndef ENGINE_SLOTS_HPP
#define ENGINE_SLOTS_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "engine_slots.h"  // the C ABI (declares itself extern "C")

namespace engine_slots {

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// The text of a C status ("no engine has room", ...); never null.
inline const char* status_str(es_status s) noexcept { return es_status_str(s); }

/// The library version, e.g. "0.1.0".
inline const char* version() noexcept { return es_version(); }

/// A failed C ABI call. `status()` is the `es_status` the call returned;
/// `what()` reads "<function>: <status text>".
class Error : public std::runtime_error {
 public:
  Error(es_status status, const char* function)
      : std::runtime_error(std::string(function) + ": " + es_status_str(status)),
        status_(status) {}

  /// The C status, e.g. `ES_ERR_STALE`.
  es_status status() const noexcept { return status_; }

 private:
  es_status status_;
};

namespace detail {
/// Throws `Error` unless `s` is `ES_OK`.
inline void check(es_status s, const char* function) {
  if (s != ES_OK) throw Error(s, function);
}
/// The key as the C ABI takes it (any bytes; the C side checks 1..64).
inline const uint8_t* key_ptr(std::string_view key) noexcept {
  // A non-null pointer even for an empty view, so an empty key is reported
  // as ES_ERR_INVALID (bad length), not ES_ERR_NULL.
  static const uint8_t empty = 0;
  return key.empty() ? &empty : reinterpret_cast<const uint8_t*>(key.data());
}
}  // namespace detail

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/// How `Table::reserve` picks an engine (see docs/CONTRACT.md, "Selection").
enum class Policy : int {
  /// Healthy first, then lowest load/capacity, higher priority, oldest
  /// last reservation, then any of the engines still equal. The default.
  LeastLoaded = ES_POLICY_LEAST_LOADED,
  /// The fullest engine that still has room (idle engines can scale down).
  FillFirst = ES_POLICY_FILL_FIRST,
  /// Two sampled engines with room; the less loaded wins. O(1) in table size.
  TwoChoices = ES_POLICY_TWO_CHOICES,
};

/// The fixed shape of a table, chosen at creation. A default-constructed
/// Config holds the library's defaults, read from `es_config_default` (the
/// one place they are defined). Setters chain:
/// `Config{}.engines(8).tickets(64)`.
struct Config {
  /// Engine slots, 1..=65535.
  uint32_t max_engines;
  /// Ticket slots (reservations plus running streams), 1..=1048576.
  uint32_t max_tickets;
  /// Capacity of an engine added with capacity 0; >= 1.
  uint32_t default_capacity;
  /// A reservation not committed within this time is reclaimed; 0 = never.
  std::chrono::milliseconds pending_lease;
  /// A stream neither touched nor released within this time is reclaimed;
  /// 0 = never.
  std::chrono::milliseconds active_lease;
  /// Selection policy.
  Policy policy;

  /// The library's defaults (`es_config_default`).
  Config() noexcept {
    es_config d{};
    (void)es_config_default(&d);
    max_engines = d.max_engines;
    max_tickets = d.max_tickets;
    default_capacity = d.default_capacity;
    pending_lease = std::chrono::milliseconds{d.pending_lease_ms};
    active_lease = std::chrono::milliseconds{d.active_lease_ms};
    policy = static_cast<Policy>(d.policy);
  }

  Config& engines(uint32_t n) { max_engines = n; return *this; }
  Config& tickets(uint32_t n) { max_tickets = n; return *this; }
  Config& capacity(uint32_t n) { default_capacity = n; return *this; }
  Config& pending(std::chrono::milliseconds d) { pending_lease = d; return *this; }
  Config& active(std::chrono::milliseconds d) { active_lease = d; return *this; }
  Config& with_policy(Policy p) { policy = p; return *this; }

  /// The C struct. Throws `Error(ES_ERR_INVALID)` if a lease is negative or
  /// does not fit in 32-bit milliseconds; other ranges are the C side's.
  es_config to_c() const {
    es_config c{};
    c.max_engines = max_engines;
    c.max_tickets = max_tickets;
    c.default_capacity = default_capacity;
    c.pending_lease_ms = lease_ms(pending_lease);
    c.active_lease_ms = lease_ms(active_lease);
    c.policy = static_cast<es_policy>(policy);
    return c;
  }

 private:
  static uint32_t lease_ms(std::chrono::milliseconds d) {
    if (d.count() < 0 || d.count() > std::numeric_limits<uint32_t>::max())
      throw Error(ES_ERR_INVALID, "engine_slots::Config");
    return static_cast<uint32_t>(d.count());
  }
};

// ---------------------------------------------------------------------------
// Handles and views
// ---------------------------------------------------------------------------

/// A registered engine's handle: a generation-tagged 64-bit value, cheap to
/// copy. Once the engine is removed the handle is stale forever (calls with
/// it throw `Error(ES_ERR_STALE)`). A default-constructed `Engine` is 0,
/// which is never valid.
class Engine {
 public:
  constexpr Engine() noexcept = default;
  /// Wraps a raw `es_engine` (any value; invalid ones are reported stale).
  constexpr explicit Engine(es_engine raw) noexcept : raw_(raw) {}
  /// The `es_engine` the C ABI passes around.
  constexpr es_engine raw() const noexcept { return raw_; }
  /// `false` for the null handle 0 (a non-zero handle may still be stale).
  constexpr explicit operator bool() const noexcept { return raw_ != 0; }
  friend constexpr bool operator==(Engine a, Engine b) noexcept { return a.raw_ == b.raw_; }
  friend constexpr bool operator!=(Engine a, Engine b) noexcept { return a.raw_ != b.raw_; }
  /// An arbitrary total order, for ordered containers.
  friend constexpr bool operator<(Engine a, Engine b) noexcept { return a.raw_ < b.raw_; }

 private:
  es_engine raw_ = 0;
};

/// A consistent view of one engine at one moment (`Table::stats`,
/// `Table::snapshot`). Counts come from one atomic read, so they agree with
/// each other.
class EngineStats {
 public:
  EngineStats() noexcept : s_{} {}
  explicit EngineStats(const es_engine_stats& s) noexcept : s_(s) {}

  /// The engine's handle.
  Engine engine() const noexcept { return Engine(s_.engine); }
  /// The engine's key: any bytes, 1 to ES_KEY_MAX of them. Valid while this object is.
  std::string_view key() const noexcept {
    size_t n = s_.key_len <= ES_KEY_MAX ? s_.key_len : ES_KEY_MAX;
    return std::string_view(reinterpret_cast<const char*>(s_.key), n);
  }
  /// Most streams admitted at once.
  uint32_t capacity() const noexcept { return s_.capacity; }
  /// Committed streams.
  uint32_t active() const noexcept { return s_.active; }
  /// Reserved, not yet committed.
  uint32_t pending() const noexcept { return s_.pending; }
  /// Streams on the engine this table does not own.
  uint32_t external() const noexcept { return s_.external; }
  /// `active + pending + external`, what admission compares to capacity.
  uint64_t load() const noexcept {
    return uint64_t{s_.active} + s_.pending + s_.external;
  }
  /// Selection priority (higher wins ties on load).
  int32_t priority() const noexcept { return s_.priority; }
  /// Health flag: a preference for selection, not an exclusion.
  bool healthy() const noexcept { return s_.healthy; }
  /// Draining: admits nothing new.
  bool draining() const noexcept { return s_.draining; }
  /// Admissions on this engine since it was added.
  uint64_t reserved_total() const noexcept { return s_.reserved_total; }
  /// Tickets on this engine reclaimed by lease expiry.
  uint64_t expired_total() const noexcept { return s_.expired_total; }
  /// The caller's own word for the engine (`es_engine_set_user`).
  uint64_t user() const noexcept { return s_.user; }
  /// The C struct.
  const es_engine_stats& raw() const noexcept { return s_; }

 private:
  es_engine_stats s_;
};

// ---------------------------------------------------------------------------
// Ticket
// ---------------------------------------------------------------------------

/// One stream's claim on one engine, finished exactly once.
///
/// Life cycle: pending (after `Table::reserve`) -> `commit()` -> active ->
/// `release()`; or pending -> `cancel()`. The destructor does whichever of
/// cancel/release is due, so an exception or early return between reserve
/// and release gives the slot back. Move-only; a moved-from ticket is
/// finished and does nothing.
class Ticket {
 public:
  /// Where the ticket is in its life cycle, as this object knows it.
  enum class State {
    Pending,   ///< reserved, not yet committed
    Active,    ///< committed: the stream runs
    Finished,  ///< given back, reclaimed, detached, or moved from
  };

  /// An empty (finished) ticket: destroying it does nothing.
  Ticket() noexcept = default;

  /// Takes ownership of a ticket obtained through the C ABI on `table`.
  /// `state` must say whether it is pending or active.
  static Ticket adopt(es_table* table, es_ticket ticket, Engine engine,
                      State state = State::Pending) noexcept {
    return Ticket(table, ticket, engine, state);
  }

  Ticket(const Ticket&) = delete;
  Ticket& operator=(const Ticket&) = delete;

  /// Takes over `other`'s claim; `other` becomes finished.
  Ticket(Ticket&& other) noexcept
      : table_(std::exchange(other.table_, nullptr)),
        id_(std::exchange(other.id_, 0)),
        engine_(std::exchange(other.engine_, Engine())),
        state_(std::exchange(other.state_, State::Finished)) {}

  /// Finishes this ticket's own claim (cancel or release), then takes over
  /// `other`'s.
  Ticket& operator=(Ticket&& other) noexcept {
    if (this != &other) {
      finish();
      table_ = std::exchange(other.table_, nullptr);
      id_ = std::exchange(other.id_, 0);
      engine_ = std::exchange(other.engine_, Engine());
      state_ = std::exchange(other.state_, State::Finished);
    }
    return *this;
  }

  /// Cancels (pending) or releases (active) the claim, if still held.
  ~Ticket() { finish(); }

  /// The stream started: pending -> active.
  ///
  /// Throws `Error(ES_ERR_STALE)` if the ticket is not pending, or if its
  /// pending lease ran out or its engine was removed; in the last two cases
  /// the ticket is finished (the C side already gave the slot back), so the
  /// caller should stop the stream.
  void commit() {
    if (state_ != State::Pending) throw Error(ES_ERR_STALE, "es_commit");
    es_status s = es_commit(table_, id_);
    if (s == ES_OK) {
      state_ = State::Active;
      return;
    }
    if (s == ES_ERR_STALE) state_ = State::Finished;
    throw Error(s, "es_commit");
  }

  /// The stream did not start: gives the pending slot back. `true` if this
  /// call gave it back, `false` if there was nothing to cancel (not
  /// pending, or already reclaimed by its lease). The ticket is finished
  /// afterwards unless it was active (then use `release()`).
  bool cancel() noexcept {
    if (state_ != State::Pending) return false;
    state_ = State::Finished;
    return es_cancel(table_, id_) == ES_OK;
  }

  /// The stream ended: gives the active slot back. `true` if this call gave
  /// it back, `false` if there was nothing to release (not active, or
  /// already reclaimed by its lease). The ticket is finished afterwards
  /// unless it was pending (then use `cancel()`).
  bool release() noexcept {
    if (state_ != State::Active) return false;
    state_ = State::Finished;
    return es_release(table_, id_) == ES_OK;
  }

  /// The stream is alive: restarts its active lease. Throws
  /// `Error(ES_ERR_STALE)` if it is not active, its lease already ran out,
  /// or its engine was removed; the caller should stop the stream. The
  /// ticket still counts as held (a removed engine's ticket holds a ticket
  /// slot until released), so `release()` or the destructor gives it back.
  void touch() {
    if (state_ != State::Active) throw Error(ES_ERR_STALE, "es_touch");
    detail::check(es_touch(table_, id_), "es_touch");
  }

  /// Gives up ownership without finishing: returns the raw handle, which
  /// the caller must finish through the C ABI (or let its lease expire).
  /// This object becomes finished.
  es_ticket detach() noexcept {
    table_ = nullptr;
    engine_ = Engine();
    state_ = State::Finished;
    return std::exchange(id_, 0);
  }

  /// The engine the ticket holds a slot on.
  Engine engine() const noexcept { return engine_; }
  /// The raw `es_ticket` (0 once finished). For logging and lookups; finish
  /// the ticket through this object, not through the C ABI with this value.
  es_ticket raw() const noexcept { return state_ == State::Finished ? 0 : id_; }
  /// The table the ticket belongs to (null once finished).
  es_table* table() const noexcept { return state_ == State::Finished ? nullptr : table_; }
  /// Pending, active or finished, as far as this object knows (a lease may
  /// have reclaimed it since; the next call then reports it).
  State state() const noexcept { return state_; }
  bool pending() const noexcept { return state_ == State::Pending; }
  bool active() const noexcept { return state_ == State::Active; }
  /// `true` while the ticket holds (or may hold) a slot.
  explicit operator bool() const noexcept { return state_ != State::Finished; }

 private:
  friend class Table;
  Ticket(es_table* table, es_ticket id, Engine engine, State state) noexcept
      : table_(table), id_(id), engine_(engine), state_(state) {}

  void finish() noexcept {
    switch (state_) {
      case State::Pending:
      case State::Active:
        // es_finish cancels or releases, whichever is due (also when the
        // handle was committed behind our back through raw()); STALE means
        // the lease already reclaimed it: nothing is left to give back.
        (void)es_finish(table_, id_);
        break;
      case State::Finished:
        break;
    }
    state_ = State::Finished;
  }

  es_table* table_ = nullptr;
  es_ticket id_ = 0;
  Engine engine_;
  State state_ = State::Finished;
};

// ---------------------------------------------------------------------------
// Table
// ---------------------------------------------------------------------------

/// A fixed-size table of engines and tickets; owns its `es_table*`.
///
/// Every member function is safe to call from many threads at once.
/// Move-only: moving transfers the C table (tickets taken from it stay
/// valid); the moved-from `Table` is empty, and calling into an empty table
/// throws `Error(ES_ERR_NULL)`.
class Table {
 public:
  /// An empty table (owns nothing).
  Table() noexcept = default;

  /// Creates a table. Throws `Error(ES_ERR_INVALID)` for a config out of
  /// range, `Error(ES_ERR_TABLE_FULL)` if the memory cannot be had.
  explicit Table(const Config& config) {
    es_config c = config.to_c();
    detail::check(es_table_new(&c, &t_), "es_table_new");
  }

  /// Same as the constructor, for those who prefer a named factory.
  static Table create(const Config& config) { return Table(config); }

  /// Takes ownership of a table created through the C ABI.
  static Table adopt(es_table* table) noexcept {
    Table t;
    t.t_ = table;
    return t;
  }

  Table(const Table&) = delete;
  Table& operator=(const Table&) = delete;
  Table(Table&& other) noexcept : t_(std::exchange(other.t_, nullptr)) {}
  /// Frees the table this object owned, then takes over `other`'s.
  Table& operator=(Table&& other) noexcept {
    if (this != &other) {
      es_table_free(t_);
      t_ = std::exchange(other.t_, nullptr);
    }
    return *this;
  }
  /// Frees the table. Every ticket taken from it must be gone by now.
  ~Table() { es_table_free(t_); }

  /// The C table (null if empty). Still owned by this object.
  es_table* get() const noexcept { return t_; }
  /// `false` if empty (default-constructed or moved from).
  explicit operator bool() const noexcept { return t_ != nullptr; }

  // -- engines --------------------------------------------------------------

  /// Registers an engine under `key` (1 to 64 bytes, any values) with room
  /// for `capacity` streams; 0 means the table's default capacity.
  /// Throws `Error` with ES_ERR_INVALID (key length, capacity),
  /// ES_ERR_EXISTS, or ES_ERR_TABLE_FULL (no free engine slot).
  Engine add_engine(std::string_view key, uint32_t capacity = 0) {
    es_engine e = 0;
    detail::check(es_engine_add(t_, detail::key_ptr(key), key.size(), capacity, &e),
                  "es_engine_add");
    return Engine(e);
  }

  /// The engine registered under `key`, or `std::nullopt` if there is none.
  /// Throws `Error(ES_ERR_INVALID)` for a key length outside 1..64.
  std::optional<Engine> find_engine(std::string_view key) const {
    es_engine e = 0;
    es_status s = es_engine_find(t_, detail::key_ptr(key), key.size(), &e);
    if (s == ES_ERR_NOT_FOUND) return std::nullopt;
    detail::check(s, "es_engine_find");
    return Engine(e);
  }

  /// Sets how many streams `e` admits (1..2047). Lowering it below the load
  /// revokes nothing; it only stops new admissions.
  void set_capacity(Engine e, uint32_t capacity) {
    detail::check(es_engine_set_capacity(t_, e.raw(), capacity), "es_engine_set_capacity");
  }
  /// Marks `e` healthy or not (unhealthy engines are picked last, not never).
  void set_healthy(Engine e, bool healthy) {
    detail::check(es_engine_set_healthy(t_, e.raw(), healthy), "es_engine_set_healthy");
  }
  /// Sets `e`'s priority (higher wins ties on load).
  void set_priority(Engine e, int32_t priority) {
    detail::check(es_engine_set_priority(t_, e.raw(), priority), "es_engine_set_priority");
  }
  /// Sets the number of streams on `e` that this table does not own; they
  /// count toward admission.
  void set_external(Engine e, uint32_t streams) {
    detail::check(es_engine_set_external(t_, e.raw(), streams), "es_engine_set_external");
  }
  /// Stops new admissions on `e`; its tickets finish normally.
  void drain(Engine e) { detail::check(es_engine_drain(t_, e.raw()), "es_engine_drain"); }
  /// Lets a drained `e` admit again.
  void undrain(Engine e) { detail::check(es_engine_undrain(t_, e.raw()), "es_engine_undrain"); }
  /// Removes `e` and frees its slot at once. Its tickets can only be
  /// finished: cancel/release succeed, commit and touch throw stale, and
  /// none of them touches whatever engine takes the slot next.
  void remove(Engine e) { detail::check(es_engine_remove(t_, e.raw()), "es_engine_remove"); }

  // -- tickets --------------------------------------------------------------

  /// Reserves a slot on the engine the policy picks. `std::nullopt` when no
  /// engine has room (after reclaiming expired tickets). Throws
  /// `Error(ES_ERR_TABLE_FULL)` when every ticket slot is in use.
  std::optional<Ticket> reserve() {
    es_ticket t = 0;
    es_engine e = 0;
    es_status s = es_reserve(t_, &t, &e);
    if (s == ES_NO_CAPACITY) return std::nullopt;
    detail::check(s, "es_reserve");
    return Ticket(t_, t, Engine(e), Ticket::State::Pending);
  }

  /// Reserves a slot on `e` only. `std::nullopt` when `e` is full or
  /// draining. Throws `Error` with ES_ERR_STALE (not a live engine) or
  /// ES_ERR_TABLE_FULL.
  std::optional<Ticket> reserve_on(Engine e) {
    es_ticket t = 0;
    es_status s = es_reserve_on(t_, e.raw(), &t);
    if (s == ES_NO_CAPACITY) return std::nullopt;
    detail::check(s, "es_reserve_on");
    return Ticket(t_, t, e, Ticket::State::Pending);
  }

  /// Reclaims every ticket whose lease ran out; returns how many.
  uint32_t reclaim_expired() {
    uint32_t n = 0;
    detail::check(es_reclaim_expired(t_, &n), "es_reclaim_expired");
    return n;
  }

  // -- views ----------------------------------------------------------------

  /// The current stats of `e`. Throws `Error(ES_ERR_STALE)` if `e` is not live.
  EngineStats stats(Engine e) const {
    es_engine_stats s{};
    detail::check(es_engine_stats_get(t_, e.raw(), &s), "es_engine_stats_get");
    return EngineStats(s);
  }

  /// Fills `out` with the stats of every live engine, in slot order, reusing
  /// its storage (no allocation once it is large enough).
  void snapshot_into(std::vector<EngineStats>& out) const {
    static_assert(sizeof(EngineStats) == sizeof(es_engine_stats) &&
                      std::is_standard_layout_v<EngineStats>,
                  "EngineStats must wrap es_engine_stats exactly");
    size_t len = 0;
    if (out.size() < out.capacity()) out.resize(out.capacity());
    for (;;) {
      // EngineStats is a standard-layout wrapper of es_engine_stats, so the
      // vector's storage is written in place.
      es_status s = es_table_snapshot(t_, reinterpret_cast<es_engine_stats*>(out.data()),
                                      out.size(), &len);
      detail::check(s, "es_table_snapshot");
      if (len <= out.size()) break;
      out.resize(len + len / 4 + 1);  // engines were added meanwhile: grow, retry
    }
    out.resize(len);
  }

  /// The stats of every live engine, in slot order. Range-friendly:
  /// `for (const auto& s : table.snapshot()) std::cout << s.key();`
  std::vector<EngineStats> snapshot() const {
    std::vector<EngineStats> out;
    snapshot_into(out);
    return out;
  }

 private:
  es_table* t_ = nullptr;
};

}  // namespace engine_slots

namespace std {
/// Engines as keys of unordered containers.
template <>
struct hash<engine_slots::Engine> {
  size_t operator()(engine_slots::Engine e) const noexcept { return hash<es_engine>()(e.raw()); }
};
}  // namespace std

#endif  // ENGINE_SLOTS_HPP
