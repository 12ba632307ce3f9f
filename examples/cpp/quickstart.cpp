// engine-slots from C++: a ticket gives its slot back when it goes out of scope.
#include <engine_slots.hpp>
#include <iostream>

namespace es = engine_slots;

static void print(const es::Table& table) {
  for (const es::EngineStats& s : table.snapshot())
    std::cout << s.key() << ": " << s.active() << " active, " << s.pending()
              << " pending, capacity " << s.capacity() << "\n";
}

int main() try {
  es::Table table(es::Config{}.engines(8).tickets(64).capacity(2));
  table.add_engine("engine-a");     // capacity 0: the default, 2
  table.add_engine("engine-b", 4);

  {
    std::optional<es::Ticket> ticket = table.reserve();
    if (!ticket) {                  // no engine has room: an answer, not an error
      std::cerr << "all engines are full\n";
      return 1;
    }
    std::cout << "stream on " << table.stats(ticket->engine()).key() << "\n";
    ticket->commit();               // the stream started
    print(table);
  }                                 // released here, even on an exception
  print(table);
  return 0;
} catch (const es::Error& e) {      // e.status() is the es_status
  std::cerr << e.what() << "\n";
  return 1;
}
