// GoogleTest suite for include/engine_slots.hpp, the C++ RAII layer.
// Run by scripts/test-cpp.sh under AddressSanitizer and UBSan.
#include <engine_slots.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_set>
#include <vector>

namespace es = engine_slots;
using namespace std::chrono_literals;

static_assert(!std::is_copy_constructible_v<es::Ticket>, "Ticket is move-only");
static_assert(!std::is_copy_assignable_v<es::Ticket>, "Ticket is move-only");
static_assert(std::is_nothrow_move_constructible_v<es::Ticket>, "vector<Ticket> moves");
static_assert(std::is_nothrow_move_assignable_v<es::Ticket>, "");
static_assert(!std::is_copy_constructible_v<es::Table>, "Table is move-only");
static_assert(std::is_nothrow_move_constructible_v<es::Table>, "");
static_assert(std::is_nothrow_move_assignable_v<es::Table>, "");
static_assert(std::is_base_of_v<std::runtime_error, es::Error>, "");

namespace {

/// A small table without leases, so nothing changes behind a test's back.
es::Table small_table(uint32_t capacity = 1, uint32_t tickets = 16) {
  return es::Table(
      es::Config{}.engines(8).tickets(tickets).capacity(capacity).pending(0ms).active(0ms));
}

/// `(active, pending)` of engine `e`.
std::pair<uint32_t, uint32_t> counts(const es::Table& t, es::Engine e) {
  es::EngineStats s = t.stats(e);
  return {s.active(), s.pending()};
}

/// Expects `f` to throw `es::Error` with `status`.
template <typename F>
void expect_status(es_status status, F&& f) {
  try {
    f();
    ADD_FAILURE() << "no exception, expected " << es::status_str(status);
  } catch (const es::Error& e) {
    EXPECT_EQ(e.status(), status) << e.what();
  }
}

struct StreamFailed : std::runtime_error {
  StreamFailed() : std::runtime_error("stream failed") {}
};

}  // namespace

// --- slots cannot leak ------------------------------------------------------

TEST(Ticket, ExceptionAfterCommitReleasesTheSlot) {
  es::Table t = small_table(1);
  es::Engine e = t.add_engine("engine-15");
  EXPECT_THROW(
      {
        std::optional<es::Ticket> k = t.reserve();
        ASSERT_TRUE(k);
        k->commit();
        EXPECT_EQ(counts(t, e), std::make_pair(1u, 0u));
        EXPECT_FALSE(t.reserve()) << "capacity 1 is taken";
        throw StreamFailed();
      },
      StreamFailed);
  EXPECT_EQ(counts(t, e), std::make_pair(0u, 0u));
  std::optional<es::Ticket> again = t.reserve();
  ASSERT_TRUE(again) << "the slot came back";
  EXPECT_EQ(again->engine(), e);
}

TEST(Ticket, ExceptionBeforeCommitCancelsTheSlot) {
  es::Table t = small_table(1);
  es::Engine e = t.add_engine("engine-15");
  try {
    es::Ticket k = *t.reserve();
    EXPECT_EQ(counts(t, e), std::make_pair(0u, 1u));
    throw StreamFailed();
  } catch (const StreamFailed&) {
  }
  EXPECT_EQ(counts(t, e), std::make_pair(0u, 0u));
  EXPECT_TRUE(t.reserve());
}

namespace {
/// Reserves, then gives up half-way unless told to go on.
bool place_stream(es::Table& t, bool upstream_ok) {
  std::optional<es::Ticket> k = t.reserve();
  if (!k) return false;
  if (!upstream_ok) return false;  // early return: no explicit cancel
  k->commit();
  return true;  // a committed ticket released on the way out
}
}  // namespace

TEST(Ticket, EarlyReturnGivesTheSlotBack) {
  es::Table t = small_table(1);
  es::Engine e = t.add_engine("e");
  for (int i = 0; i < 3; i++) {
    EXPECT_FALSE(place_stream(t, false));
    EXPECT_EQ(counts(t, e), std::make_pair(0u, 0u));
    EXPECT_TRUE(place_stream(t, true));
    EXPECT_EQ(counts(t, e), std::make_pair(0u, 0u));
  }
  EXPECT_EQ(t.stats(e).reserved_total(), 6u);
}

TEST(Ticket, CommittedTicketIsReleasedOnDestruction) {
  es::Table t = small_table(2);
  es::Engine e = t.add_engine("e");
  {
    es::Ticket k = *t.reserve();
    k.commit();
    EXPECT_TRUE(k.active());
    EXPECT_EQ(counts(t, e), std::make_pair(1u, 0u));
  }
  EXPECT_EQ(counts(t, e), std::make_pair(0u, 0u));
}

// --- move semantics ---------------------------------------------------------

TEST(Ticket, MovedFromTicketDoesNothing) {
  es::Table t = small_table(2);
  es::Engine e = t.add_engine("e");
  es::Ticket b;
  {
    es::Ticket a = *t.reserve();
    es_ticket raw = a.raw();
    b = std::move(a);
    EXPECT_EQ(b.raw(), raw);
    EXPECT_EQ(a.state(), es::Ticket::State::Finished);  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(a.raw(), 0u);                              // NOLINT
    EXPECT_FALSE(a);                                     // NOLINT
    EXPECT_FALSE(a.cancel());                            // NOLINT
    EXPECT_THROW(a.commit(), es::Error);                 // NOLINT
  }  // `a` dies here: must not cancel what `b` holds
  EXPECT_EQ(counts(t, e), std::make_pair(0u, 1u));
  b.commit();
  EXPECT_EQ(counts(t, e), std::make_pair(1u, 0u));
  es::Ticket c(std::move(b));
  EXPECT_FALSE(b);  // NOLINT
  EXPECT_TRUE(c.active());
  EXPECT_TRUE(c.release());
  EXPECT_EQ(counts(t, e), std::make_pair(0u, 0u));
}

TEST(Ticket, MoveAssignmentFinishesTheOldTicket) {
  es::Table t = small_table(3);
  es::Engine e = t.add_engine("e");
  es::Ticket a = *t.reserve();
  a.commit();
  es::Ticket b = *t.reserve();
  EXPECT_EQ(counts(t, e), std::make_pair(1u, 1u));
  a = std::move(b);  // a's active stream is released
  EXPECT_EQ(counts(t, e), std::make_pair(0u, 1u));
  EXPECT_TRUE(a.pending());
  a = *t.reserve();  // a's pending reservation is cancelled
  EXPECT_EQ(counts(t, e), std::make_pair(0u, 1u));
  a = es::Ticket();
  EXPECT_EQ(counts(t, e), std::make_pair(0u, 0u));
}

TEST(Ticket, VectorOfTicketsReleasesEachOnce) {
  es::Table t = small_table(100, 128);
  es::Engine e = t.add_engine("e");
  {
    std::vector<es::Ticket> v;
    for (int i = 0; i < 40; i++) {  // reallocations move tickets around
      v.push_back(*t.reserve());
      if (i % 2) v.back().commit();
    }
    EXPECT_EQ(counts(t, e), std::make_pair(20u, 20u));
    v.erase(v.begin(), v.begin() + 10);
    EXPECT_EQ(counts(t, e), std::make_pair(15u, 15u));
  }
  EXPECT_EQ(counts(t, e), std::make_pair(0u, 0u));
}

// --- explicit life cycle ----------------------------------------------------

TEST(Ticket, ExplicitFinishIsExactlyOnce) {
  es::Table t = small_table(2);
  es::Engine e = t.add_engine("e");
  es::Ticket a = *t.reserve();
  EXPECT_EQ(a.engine(), e);
  EXPECT_NE(a.raw(), 0u);
  EXPECT_EQ(a.table(), t.get());
  EXPECT_FALSE(a.release()) << "release of a pending ticket";
  EXPECT_TRUE(a.pending());
  expect_status(ES_ERR_STALE, [&] { a.touch(); });
  EXPECT_TRUE(a.cancel());
  EXPECT_FALSE(a.cancel());
  expect_status(ES_ERR_STALE, [&] { a.commit(); });

  es::Ticket b = *t.reserve();
  b.commit();
  expect_status(ES_ERR_STALE, [&] { b.commit(); });
  EXPECT_TRUE(b.active()) << "a second commit changes nothing";
  EXPECT_FALSE(b.cancel());
  b.touch();
  EXPECT_TRUE(b.release());
  EXPECT_FALSE(b.release());
  EXPECT_EQ(counts(t, e), std::make_pair(0u, 0u));
}

TEST(Ticket, RemovedEngineTicketsCanOnlyFinish) {
  es::Table t = small_table(3);
  es::Engine e = t.add_engine("e");
  es::Ticket pending = *t.reserve();
  es::Ticket active = *t.reserve();
  es::Ticket doomed = *t.reserve();
  active.commit();
  t.remove(e);
  es::Engine next = t.add_engine("next");  // may reuse e's slot
  expect_status(ES_ERR_STALE, [&] { doomed.commit(); });
  EXPECT_FALSE(doomed) << "a failed commit finished the ticket";
  expect_status(ES_ERR_STALE, [&] { active.touch(); });
  EXPECT_TRUE(active.active()) << "a stale touch does not finish the ticket";
  EXPECT_TRUE(pending.cancel());
  EXPECT_TRUE(active.release());
  EXPECT_EQ(counts(t, next), std::make_pair(0u, 0u));
  expect_status(ES_ERR_STALE, [&] { t.stats(e); });
}

TEST(Ticket, RemovedEngineTicketSlotsComeBackOnDestruction) {
  es::Table t = small_table(2, 2);  // two ticket slots only
  es::Engine e = t.add_engine("e");
  {
    es::Ticket a = *t.reserve(), b = *t.reserve();
    b.commit();
    t.remove(e);
    EXPECT_THROW(b.touch(), es::Error);
  }  // both ticket slots must come back: cancel (pending), release (active)
  es_ticket_counts c{};
  ASSERT_EQ(es_table_ticket_counts(t.get(), &c), ES_OK);
  EXPECT_EQ(c.free, 2u);
  t.add_engine("f");
  EXPECT_TRUE(t.reserve());
}

TEST(Ticket, DetachAndAdopt) {
  es::Table t = small_table(1);
  es::Engine e = t.add_engine("e");
  es_ticket raw;
  {
    es::Ticket k = *t.reserve();
    raw = k.detach();
    EXPECT_FALSE(k);
  }
  EXPECT_EQ(counts(t, e), std::make_pair(0u, 1u)) << "detached: not cancelled";
  ASSERT_EQ(es_commit(t.get(), raw), ES_OK);
  {
    es::Ticket k = es::Ticket::adopt(t.get(), raw, e, es::Ticket::State::Active);
    EXPECT_TRUE(k.active());
  }
  EXPECT_EQ(counts(t, e), std::make_pair(0u, 0u));
  EXPECT_EQ(es_release(t.get(), raw), ES_ERR_STALE);
}

TEST(Ticket, DestructorCopesWithCommitThroughRawHandle) {
  es::Table t = small_table(1);
  es::Engine e = t.add_engine("e");
  {
    es::Ticket k = *t.reserve();
    ASSERT_EQ(es_commit(t.get(), k.raw()), ES_OK);  // behind the wrapper's back
  }
  EXPECT_EQ(counts(t, e), std::make_pair(0u, 0u));
}

TEST(Ticket, ExpiredPendingTicket) {
  es::Table t(es::Config{}.engines(2).tickets(4).pending(1ms));
  es::Engine e = t.add_engine("e");
  es::Ticket k = *t.reserve();
  std::this_thread::sleep_for(20ms);
  expect_status(ES_ERR_STALE, [&] { k.commit(); });
  EXPECT_FALSE(k) << "the lease reclaimed it";
  EXPECT_EQ(counts(t, e), std::make_pair(0u, 0u));
  EXPECT_EQ(t.stats(e).expired_total(), 1u);
  EXPECT_EQ(t.reclaim_expired(), 0u);
}

TEST(Ticket, ExpiredActiveTicket) {
  es::Table t(es::Config{}.engines(2).tickets(4).pending(0ms).active(1ms));
  es::Engine e = t.add_engine("e");
  es::Ticket k = *t.reserve();
  k.commit();
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(t.reclaim_expired(), 1u);
  expect_status(ES_ERR_STALE, [&] { k.touch(); });
  EXPECT_FALSE(k.release());
  EXPECT_EQ(counts(t, e), std::make_pair(0u, 0u));
}

// --- Table ------------------------------------------------------------------

TEST(Table, MoveKeepsTicketsValid) {
  es::Table a = small_table(2);
  es::Engine e = a.add_engine("e");
  es_table* raw = a.get();
  es::Ticket k = *a.reserve();
  es::Table b(std::move(a));
  EXPECT_EQ(b.get(), raw);
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move)
  expect_status(ES_ERR_NULL, [&] { a.add_engine("x"); });  // NOLINT
  expect_status(ES_ERR_NULL, [&] { (void)a.reserve(); });  // NOLINT
  k.commit();
  EXPECT_EQ(counts(b, e), std::make_pair(1u, 0u));
  EXPECT_TRUE(k.release());

  es::Table c = es::Table::create(es::Config{}.engines(1).tickets(1));
  c.add_engine("old");
  c = std::move(b);  // frees c's old table (ASan would see a leak otherwise)
  EXPECT_EQ(c.get(), raw);
  EXPECT_TRUE(c.find_engine("e"));
  EXPECT_FALSE(c.find_engine("old"));
}

TEST(Table, AdoptTakesOwnership) {
  es_config cfg = es::Config{}.engines(2).tickets(2).to_c();
  es_table* raw = nullptr;
  ASSERT_EQ(es_table_new(&cfg, &raw), ES_OK);
  es::Table t = es::Table::adopt(raw);
  EXPECT_EQ(t.get(), raw);
  t.add_engine("e");
}  // freed once, by t (ASan reports a leak or double free otherwise)

TEST(Table, SnapshotIteratesEnginesInSlotOrder) {
  es::Table t = small_table(3);
  const std::string nul("a\0b", 3);
  const std::string longest(64, 'k');
  es::Engine a = t.add_engine("alpha", 5);
  es::Engine b = t.add_engine(nul);
  es::Engine c = t.add_engine(longest, 7);
  es::Ticket k = *t.reserve_on(b);
  k.commit();
  std::vector<std::string> keys;
  std::vector<es::Engine> engines;
  for (const es::EngineStats& s : t.snapshot()) {
    keys.emplace_back(s.key());
    engines.push_back(s.engine());
    EXPECT_EQ(s.load(), uint64_t{s.active()} + s.pending() + s.external());
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"alpha", nul, longest}));
  EXPECT_EQ(engines, (std::vector<es::Engine>{a, b, c}));
  std::vector<es::EngineStats> snap = t.snapshot();
  ASSERT_EQ(snap.size(), 3u);
  EXPECT_EQ(snap[0].capacity(), 5u);
  EXPECT_EQ(snap[1].capacity(), 3u);  // capacity 0: the default
  EXPECT_EQ(snap[1].key().size(), 3u);
  EXPECT_EQ(snap[1].active(), 1u);
  EXPECT_EQ(snap[2].capacity(), 7u);

  t.remove(a);
  std::vector<es::EngineStats> buf;
  buf.reserve(16);
  const es::EngineStats* storage = buf.data();
  t.snapshot_into(buf);
  EXPECT_EQ(buf.size(), 2u);
  EXPECT_EQ(buf.data(), storage) << "snapshot_into reuses the storage";
  EXPECT_EQ(buf[0].key(), nul);
}

TEST(Table, SnapshotGrowsPastItsFirstGuess) {
  es::Table t(es::Config{}.engines(300).tickets(8));
  for (int i = 0; i < 300; i++) t.add_engine("engine-" + std::to_string(i));
  std::vector<es::EngineStats> buf(3);
  t.snapshot_into(buf);
  ASSERT_EQ(buf.size(), 300u);
  EXPECT_EQ(buf[299].key(), "engine-299");
  EXPECT_TRUE(es::Table(es::Config{}.engines(1).tickets(1)).snapshot().empty());
}

TEST(Table, EngineSettings) {
  es::Table t = small_table(2);
  es::Engine e = t.add_engine("e");
  es::Engine f = t.add_engine("f", 4);
  t.set_capacity(e, 9);
  t.set_healthy(e, false);
  t.set_priority(e, -3);
  t.set_external(e, 4);
  es::EngineStats s = t.stats(e);
  EXPECT_EQ(s.capacity(), 9u);
  EXPECT_FALSE(s.healthy());
  EXPECT_EQ(s.priority(), -3);
  EXPECT_EQ(s.external(), 4u);
  EXPECT_EQ(s.load(), 4u);
  EXPECT_EQ(s.engine(), e);
  EXPECT_EQ(s.key(), "e");

  // Healthy engines win, even when fuller.
  EXPECT_EQ(t.reserve()->engine(), f);
  // Draining stops admissions, undrain restores them.
  t.drain(f);
  EXPECT_TRUE(t.stats(f).draining());
  EXPECT_FALSE(t.reserve_on(f));
  EXPECT_EQ(t.reserve()->engine(), e);
  t.undrain(f);
  EXPECT_FALSE(t.stats(f).draining());
  EXPECT_TRUE(t.reserve_on(f));
  // External load counts toward admission.
  t.set_external(f, 4);
  EXPECT_FALSE(t.reserve_on(f));
  t.set_external(f, 3);
  EXPECT_TRUE(t.reserve_on(f));
  EXPECT_EQ(t.find_engine("f"), f);
}

TEST(Table, Errors) {
  expect_status(ES_ERR_INVALID, [] { es::Table(es::Config{}.engines(0)); });
  expect_status(ES_ERR_INVALID, [] { es::Table(es::Config{}.tickets(0)); });
  expect_status(ES_ERR_INVALID, [] { es::Table(es::Config{}.capacity(0)); });
  expect_status(ES_ERR_INVALID, [] { es::Table(es::Config{}.pending(-1ms)); });
  expect_status(ES_ERR_INVALID, [] { es::Table(es::Config{}.active(std::chrono::hours(2000))); });

  es::Table t = small_table(1, 2);
  es::Engine e = t.add_engine("e");
  expect_status(ES_ERR_EXISTS, [&] { t.add_engine("e"); });
  expect_status(ES_ERR_INVALID, [&] { t.add_engine(""); });
  expect_status(ES_ERR_INVALID, [&] { t.add_engine(std::string(ES_KEY_MAX + 1, 'x')); });
  expect_status(ES_ERR_INVALID, [&] { t.add_engine("big", 1u << 20); });
  expect_status(ES_ERR_INVALID, [&] { t.set_capacity(e, 0); });
  expect_status(ES_ERR_INVALID, [&] { (void)t.find_engine(""); });
  EXPECT_EQ(t.find_engine("nope"), std::nullopt);

  es::Engine bogus(0xdeadbeefULL);
  for (auto call : std::vector<std::function<void()>>{
           [&] { t.stats(bogus); }, [&] { t.set_capacity(bogus, 1); },
           [&] { t.set_healthy(bogus, true); }, [&] { t.set_priority(bogus, 1); },
           [&] { t.set_external(bogus, 1); }, [&] { t.drain(bogus); },
           [&] { t.undrain(bogus); }, [&] { t.remove(bogus); },
           [&] { (void)t.reserve_on(bogus); }, [&] { (void)t.reserve_on(es::Engine()); }})
    expect_status(ES_ERR_STALE, call);

  es::Ticket a = *t.reserve();
  EXPECT_EQ(t.reserve(), std::nullopt) << "no capacity is an answer";
  EXPECT_EQ(t.reserve_on(e), std::nullopt);
  t.add_engine("f");
  es::Ticket b = *t.reserve();
  expect_status(ES_ERR_TABLE_FULL, [&] { (void)t.reserve(); });  // 2 ticket slots

  try {
    t.add_engine("e");
    FAIL();
  } catch (const std::runtime_error& err) {  // catchable as a standard error
    EXPECT_NE(std::string(err.what()).find("es_engine_add"), std::string::npos) << err.what();
  }
  EXPECT_STREQ(es::status_str(ES_NO_CAPACITY), es_status_str(ES_NO_CAPACITY));
  EXPECT_STRNE(es::version(), "");
}

TEST(Engine, ValueSemantics) {
  es::Table t = small_table();
  es::Engine a = t.add_engine("a"), b = t.add_engine("b");
  EXPECT_FALSE(es::Engine());
  EXPECT_TRUE(a);
  EXPECT_NE(a, b);
  EXPECT_EQ(es::Engine(a.raw()), a);
  EXPECT_TRUE(a < b || b < a);
  std::unordered_set<es::Engine> set{a, b, a};
  EXPECT_EQ(set.size(), 2u);
}

TEST(Config, ToC) {
  es_config c = es::Config{}
                    .engines(3)
                    .tickets(9)
                    .capacity(4)
                    .pending(1500ms)
                    .active(std::chrono::seconds(2))
                    .with_policy(es::Policy::FillFirst)
                    .to_c();
  EXPECT_EQ(c.max_engines, 3u);
  EXPECT_EQ(c.max_tickets, 9u);
  EXPECT_EQ(c.default_capacity, 4u);
  EXPECT_EQ(c.pending_lease_ms, 1500u);
  EXPECT_EQ(c.active_lease_ms, 2000u);
  EXPECT_EQ(c.policy, static_cast<uint32_t>(ES_POLICY_FILL_FIRST));
  es_config d = es::Config{}.to_c();  // the documented defaults
  EXPECT_EQ(d.max_engines, 1024u);
  EXPECT_EQ(d.max_tickets, 16384u);
  EXPECT_EQ(d.default_capacity, 1u);
  EXPECT_EQ(d.pending_lease_ms, 30000u);
  EXPECT_EQ(d.active_lease_ms, 0u);
  EXPECT_EQ(d.policy, static_cast<uint32_t>(ES_POLICY_LEAST_LOADED));
  es::Table table(es::Config{}.with_policy(es::Policy::TwoChoices));
  es_config back;
  ASSERT_EQ(es_table_get_config(table.get(), &back), ES_OK);
  EXPECT_EQ(back.policy, static_cast<uint32_t>(ES_POLICY_TWO_CHOICES));
}

// --- concurrency --------------------------------------------------------------

TEST(Table, ConcurrentTicketsNeverOvercommitNorLeak) {
  constexpr uint32_t kEngines = 4, kCapacity = 3, kThreads = 8, kRounds = 2000;
  es::Table t(es::Config{}.engines(kEngines).tickets(64).capacity(kCapacity).pending(0ms));
  std::vector<es::Engine> engines;
  for (uint32_t i = 0; i < kEngines; i++) engines.push_back(t.add_engine("e" + std::to_string(i)));
  std::atomic<uint32_t> over{0}, placed{0};
  std::vector<std::thread> threads;
  for (uint32_t n = 0; n < kThreads; n++)
    threads.emplace_back([&, n] {
      for (uint32_t i = 0; i < kRounds; i++) {
        try {
          std::optional<es::Ticket> k = t.reserve();
          if (!k) continue;
          placed++;
          es::EngineStats s = t.stats(k->engine());
          if (s.active() + s.pending() > kCapacity) over++;
          if ((i + n) % 3 == 0) continue;  // cancelled by the destructor
          k->commit();
          if ((i + n) % 5 == 0) throw StreamFailed();  // released by unwinding
        } catch (const StreamFailed&) {
        }
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(over.load(), 0u);
  EXPECT_GT(placed.load(), 0u);
  for (const es::EngineStats& s : t.snapshot()) {
    EXPECT_EQ(s.active(), 0u) << s.key();
    EXPECT_EQ(s.pending(), 0u) << s.key();
  }
}

// Defaults exist once, in the Rust core: the C++ Config reads them.
TEST(Config, DefaultsComeFromTheCore) {
  es_config d{};
  ASSERT_EQ(es_config_default(&d), ES_OK);
  es_config c = es::Config{}.to_c();
  EXPECT_EQ(c.max_engines, d.max_engines);
  EXPECT_EQ(c.max_tickets, d.max_tickets);
  EXPECT_EQ(c.default_capacity, d.default_capacity);
  EXPECT_EQ(c.pending_lease_ms, d.pending_lease_ms);
  EXPECT_EQ(c.active_lease_ms, d.active_lease_ms);
  EXPECT_EQ(static_cast<uint32_t>(c.policy), d.policy);
  EXPECT_EQ(es_config_default(nullptr), ES_ERR_NULL);
}

// The destructor finishes through es_finish: a ticket committed behind the
// RAII object's back (through raw()) is released, not leaked.
TEST(Ticket, DestructorFinishesACommitBehindItsBack) {
  es::Table t(es::Config{}.engines(1).tickets(2).capacity(1));
  es::Engine e = t.add_engine("e");
  {
    auto k = t.reserve();
    ASSERT_TRUE(k.has_value());
    ASSERT_EQ(es_commit(t.get(), k->raw()), ES_OK);
  }
  EXPECT_EQ(t.stats(e).active(), 0u);
  EXPECT_EQ(t.stats(e).pending(), 0u);
}
