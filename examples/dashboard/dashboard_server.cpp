// dashboard_server: takes sensor readings from any transport, keeps each
// sensor's last value and each building's aggregates, raises and clears
// CO₂ alerts, and serves a live dashboard page over WebSocket.
//
//   dashboard_server --ingest udp://127.0.0.1:9001 --ingest tcp://127.0.0.1:9002
//                    --listen ws://127.0.0.1:8080
//   sensor_sim --connect udp://127.0.0.1:9001 --sensors 200 --buildings 4
//   # then open http://127.0.0.1:8080/
//
// Each building is a coronet group ("b:<name>"): every reading goes to the
// building's viewers as it arrives, and alerts are numbered and kept, so a
// page that comes back (coronet.js, rejoining with the last seq it saw)
// gets the alerts raised while it was away.  With --redis, several
// dashboard_servers share readings, alerts and the list of buildings.
//
// Pages: GET / (the page), /coronet.js, /uPlot.iife.min.js and /uPlot.min.css
// (from --assets, npm's uplot), /stats (the counters as JSON); the
// WebSocket at /live speaks coronet.js's rooms protocol: {"type":"join",
// "room":"buildings"} lists the buildings, {"type":"join","room":B} follows
// building B (the reply has a snapshot: its sensors' last values, its
// aggregates and its active alerts).
#include "reading.hpp"

#include <coronet/coronet.hpp>
#include <coronet/redis_layer.hpp>

#include <CLI/CLI.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "coronet_js.hpp"
#include "dashboard_page.hpp"

#ifndef DASHBOARD_ASSETS
#define DASHBOARD_ASSETS "node_modules/uplot/dist"
#endif

namespace {

using namespace std::chrono_literals;
using dashboard::json;

struct settings {
  std::vector<std::string> ingest, listen;
  std::string redis, assets = DASHBOARD_ASSETS;
  double co2_limit = 1000;
  unsigned alert_after_ms = 30'000;
  std::size_t max_sensors = 200'000;
  std::size_t history = 1000;
  unsigned threads = 1;
};

struct sensor_state {
  std::string building;
  coronet::group group; // its building's
  dashboard::reading last;
  std::int64_t over_since = 0; // server ms when CO₂ went over the limit (0: it is not)
  bool alerting = false;
};

struct counters {
  std::atomic<std::uint64_t> readings{0}, malformed{0}, out_of_range{0}, refused{0},
      alerts_raised{0}, alerts_cleared{0};
};

// What the server knows, shared by every ingest and page thread.
struct state {
  const settings& s;
  coronet::groups& groups;
  counters count;
  std::mutex mutex;                                      // guards what follows
  std::unordered_map<std::string, sensor_state> sensors; // (100,000s: hashed, not a tree)
  std::map<std::string, std::set<std::string>, std::less<>> buildings; // name -> its sensors

  state(const settings& settings, coronet::groups& g) : s(settings), groups(g) {}

  static std::string group_of(std::string_view building) { return "b:" + std::string(building); }
};

std::string alert_text(std::string_view building, std::string_view sensor, std::string_view what,
                       double co2, std::int64_t over_since) {
  return json{{"type", "alert"},          {"room", building},
              {"sensor", sensor},         {"state", what},
              {"co2", std::lround(co2)},  {"over_since", over_since},
              {"ts", dashboard::now_ms()}}
      .dump();
}

// What pages get for a reading.  Written by hand, since this runs for every
// reading: the names are checked (letters, digits, - _ .: nothing to
// escape) and the numbers finite.  Only known fields go out: a sensor
// cannot put a "type" of its own into what pages read.
std::string live_text(const dashboard::reading& r) {
  char buffer[64];
  auto number = [&](double v) {
    return std::string_view(
        buffer,
        std::to_chars(buffer, buffer + sizeof buffer, std::round(v * 100) / 100).ptr - buffer);
  };
  std::string out;
  out.reserve(96 + r.sensor.size() + r.building.size());
  out += R"({"type":"reading","room":")";
  out += r.building;
  out += R"(","sensor":")";
  out += r.sensor;
  out += R"(","t":)";
  out += number(r.t);
  out += R"(,"h":)";
  out += number(r.h);
  out += R"(,"co2":)";
  out += number(r.co2);
  out += R"(,"ts":)";
  out.append(buffer, std::to_chars(buffer, buffer + sizeof buffer, r.ts).ptr);
  out += '}';
  return out;
}

// A numbered message: its text without the closing brace, then ,"seq":N}.
// (Named variables only around co_await: GCC 12 corrupts short
// std::string temporaries there; docs/design.md.)
asio::awaitable<void> publish_numbered(coronet::group& g, const std::string& text) {
  std::string before = text.substr(0, text.size() - 1) + ",\"seq\":";
  std::string after = "}";
  auto seq = co_await g.publish_numbered(before, after);
  if (!seq)
    std::fprintf(stderr, "dashboard_server: %s: not published: %s\n", g.name().c_str(),
                 seq.error().message().c_str());
}

// One reading from any transport.
asio::awaitable<void> take(state& st, std::string_view text) {
  auto decoded = dashboard::decode(text);
  if (auto* p = std::get_if<dashboard::problem>(&decoded)) {
    (*p == dashboard::problem::malformed ? st.count.malformed : st.count.out_of_range)
        .fetch_add(1, std::memory_order_relaxed);
    co_return;
  }
  auto& r = std::get<dashboard::reading>(decoded);
  bool new_building = false;
  std::optional<std::string> alert;
  coronet::group building;
  {
    std::lock_guard lock(st.mutex);
    auto it = st.sensors.find(r.sensor);
    if (it == st.sensors.end()) {
      if (st.sensors.size() >= st.s.max_sensors) { // past the registered limit
        st.count.refused.fetch_add(1, std::memory_order_relaxed);
        co_return;
      }
      auto group = st.groups.get(state::group_of(r.building));
      it = st.sensors.emplace(r.sensor, sensor_state{r.building, group, {}, 0, false}).first;
      auto [b, inserted] = st.buildings.try_emplace(r.building);
      b->second.insert(r.sensor);
      new_building = inserted;
    } else if (it->second.building != r.building) { // a sensor does not move
      st.count.refused.fetch_add(1, std::memory_order_relaxed);
      co_return;
    }
    auto& sensor = it->second;
    sensor.last = r;
    building = sensor.group;
    auto now = dashboard::now_ms();
    if (r.co2 > st.s.co2_limit) {
      if (!sensor.over_since) sensor.over_since = now;
      if (!sensor.alerting && now - sensor.over_since >= st.s.alert_after_ms) {
        sensor.alerting = true;
        st.count.alerts_raised.fetch_add(1, std::memory_order_relaxed);
        alert = alert_text(r.building, r.sensor, "raised", r.co2, sensor.over_since);
      }
    } else {
      if (sensor.alerting) {
        st.count.alerts_cleared.fetch_add(1, std::memory_order_relaxed);
        alert = alert_text(r.building, r.sensor, "cleared", r.co2, sensor.over_since);
      }
      sensor.alerting = false;
      sensor.over_since = 0;
    }
  }
  st.count.readings.fetch_add(1, std::memory_order_relaxed);
  building.publish(coronet::shared_message(live_text(r)));
  if (new_building) {
    auto announce = json{{"type", "building"}, {"room", "buildings"}, {"name", r.building}}.dump();
    auto list = st.groups.get("buildings");
    co_await publish_numbered(list, announce);
  }
  if (alert) co_await publish_numbered(building, *alert);
}

asio::awaitable<void> ingest(state& st, coronet::channel ch) {
  bool datagrams = !ch.properties().reliable; // (one datagram lost is that datagram alone)
  for (;;) {
    auto m = ch.try_receive();
    if (!m && m.error() == coronet::errc::would_block) m = co_await ch.receive();
    if (m) {
      co_await take(st, m->text());
    } else if (m.error() == coronet::errc::message_too_large && datagrams) {
      st.count.malformed.fetch_add(1, std::memory_order_relaxed);
    } else {
      co_return; // closed, or a stream whose framing is lost: the connection ends
    }
  }
}

// What a page gets with its join of a building: the sensors' last values,
// the aggregates over them, and the alerts now active.
json snapshot(state& st, std::string_view building) {
  json sensors = json::object(), active = json::array();
  double t = 0, h = 0, co2 = 0, co2_max = 0;
  std::size_t n = 0;
  std::lock_guard lock(st.mutex);
  if (auto b = st.buildings.find(building); b != st.buildings.end())
    for (auto& name : b->second) {
      auto& sensor = st.sensors.find(name)->second;
      auto& r = sensor.last;
      sensors[name] = {{"t", r.t}, {"h", r.h}, {"co2", r.co2}, {"ts", r.ts}};
      t += r.t;
      h += r.h;
      co2 += r.co2;
      co2_max = std::max(co2_max, r.co2);
      ++n;
      if (sensor.alerting)
        active.push_back({{"sensor", name}, {"co2", r.co2}, {"over_since", sensor.over_since}});
    }
  json aggregates = {{"sensors", n}};
  if (n) {
    aggregates["t"] = t / n;
    aggregates["h"] = h / n;
    aggregates["co2"] = co2 / n;
    aggregates["co2_max"] = co2_max;
  }
  return {{"sensors", sensors}, {"aggregates", aggregates}, {"alerts", active}};
}

asio::awaitable<bool> send(coronet::channel& ch, const std::string& text) {
  auto sent = co_await ch.send(coronet::message_view(text));
  co_return sent.has_value();
}

constexpr std::size_t max_rooms_per_page = 256;

// One page over /live.
asio::awaitable<void> page_session(state& st, coronet::channel ch) {
  std::map<std::string, coronet::membership, std::less<>> joined;
  for (;;) {
    auto m = co_await ch.receive();
    if (!m) break;
    auto j = json::parse(m->text(), nullptr, false);
    std::string problem;
    auto type = j.is_object() ? j.value("type", "") : "";
    auto room = j.is_object() && j.contains("room") && j["room"].is_string()
                    ? j["room"].get<std::string>()
                    : "";
    if (type == "join" && (room == "buildings" || dashboard::good_name(room))) {
      auto since = j.contains("since") && j["since"].is_number_unsigned()
                       ? j["since"].get<std::uint64_t>()
                       : 0;
      auto epoch =
          j.contains("epoch") && j["epoch"].is_string() ? j["epoch"].get<std::string>() : "";
      if (joined.count(room)) {
        problem = "already following " + room;
      } else if (joined.size() >= max_rooms_per_page) {
        problem = "at most " + std::to_string(max_rooms_per_page) + " rooms at once";
      } else {
        auto group = st.groups.get(room == "buildings" ? room : state::group_of(room));
        auto who = ch.remote();
        auto caught_up = co_await group.join_since(ch, who, since, epoch);
        if (!caught_up) break;
        json reply = {{"type", "joined"}, {"room", room}, {"epoch", caught_up->epoch}};
        if (j.contains("since")) reply["recovered"] = caught_up->recovered;
        json history = json::array();
        for (auto& h : caught_up->missed) {
          auto item = json::parse(h.message.text(), nullptr, false);
          if (!item.is_discarded()) history.push_back(std::move(item));
        }
        reply["history"] = std::move(history);
        if (room != "buildings") reply["snapshot"] = snapshot(st, room);
        auto text = reply.dump();
        if (!co_await send(ch, text)) break;
        caught_up->member.resume();
        joined.emplace(room, std::move(caught_up->member));
      }
    } else if (type == "leave") {
      if (!joined.erase(room)) problem = "not following " + room;
    } else {
      problem = R"(expected {"type":"join","room":R} or {"type":"leave","room":R})";
    }
    if (!problem.empty()) {
      auto error = json{{"type", "error"}, {"message", problem}}.dump();
      if (!co_await send(ch, error)) break;
    }
  }
}

std::string stats_json(state& st) {
  std::size_t sensors, buildings;
  {
    std::lock_guard lock(st.mutex);
    sensors = st.sensors.size();
    buildings = st.buildings.size();
  }
  auto& c = st.count;
  return json{{"readings", c.readings.load()},
              {"malformed", c.malformed.load()},
              {"out_of_range", c.out_of_range.load()},
              {"refused", c.refused.load()},
              {"alerts_raised", c.alerts_raised.load()},
              {"alerts_cleared", c.alerts_cleared.load()},
              {"sensors", sensors},
              {"buildings", buildings}}
      .dump();
}

struct asset {
  std::string body, type;
};

std::map<std::string, asset> load_assets(const settings& s) {
  std::map<std::string, asset> out;
  for (auto [name, type] : {std::pair{"uPlot.iife.min.js", "text/javascript; charset=utf-8"},
                            std::pair{"uPlot.min.css", "text/css; charset=utf-8"}}) {
    std::ifstream in(s.assets + "/" + name, std::ios::binary);
    if (!in) {
      std::fprintf(stderr,
                   "dashboard_server: warning: no %s in %s: the page shows numbers but no charts "
                   "(scripts/setup.sh installs uplot with npm; or give --assets DIR)\n",
                   name, s.assets.c_str());
      continue;
    }
    std::stringstream text;
    text << in.rdbuf();
    out["/" + std::string(name)] = {text.str(), type};
  }
  return out;
}

coronet::http_response http(state& st, const std::map<std::string, asset>& assets,
                            const coronet::http_request& r) {
  auto file = [](std::string_view text, std::string type) {
    coronet::http_response f;
    f.content_type = std::move(type);
    f.body = std::string(text);
    f.headers.push_back({"Cache-Control", "no-store"});
    return f;
  };
  if (r.method != "GET") return coronet::http_response::error(405);
  if (r.path == "/") return file(web::dashboard_page, "text/html; charset=utf-8");
  if (r.path == "/coronet.js") return file(web::coronet_js, "text/javascript; charset=utf-8");
  if (r.path == "/stats") return file(stats_json(st), "application/json");
  if (auto it = assets.find(std::string(r.path)); it != assets.end())
    return file(it->second.body, it->second.type);
  return coronet::http_response::error(404);
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"coronet dashboard server: takes sensor readings (sensor_sim) over udp://, "
               "tcp:// or ws://, keeps last values and per-building aggregates, raises CO2 "
               "alerts, and serves a live page over WebSocket"};
  settings s;
  app.option_defaults()->always_capture_default(); // --help shows each default
  app.add_option("--ingest", s.ingest,
                 "where sensors send readings (repeat): udp://HOST:PORT, tcp://HOST:PORT, "
                 "ws://HOST:PORT")
      ->required();
  app.add_option("--listen", s.listen,
                 "where pages connect (repeat): ws://HOST:PORT (page at /, WebSocket at /live)")
      ->required();
  app.add_option("--redis", s.redis,
                 "share readings, alerts and buildings with every dashboard_server on this Redis "
                 "(redis://HOST:PORT[/DB])");
  app.add_option("--co2-limit", s.co2_limit, "ppm of CO2 above which a sensor is watched")
      ->check(CLI::PositiveNumber);
  app.add_option("--alert-after-ms", s.alert_after_ms,
                 "an alert is raised once CO2 has stayed above the limit this long (and cleared "
                 "when it is back under)");
  app.add_option("--max-sensors", s.max_sensors,
                 "sensors registered at most; readings from further new sensors are refused and "
                 "counted");
  app.add_option("--history", s.history,
                 "alerts (and building announcements) kept per building for pages that come back")
      ->check(CLI::Range(1u, 100'000u));
  app.add_option("--threads", s.threads, "threads per listener")->check(CLI::Range(1u, 64u));
  app.add_option("--assets", s.assets, "the folder with uPlot.iife.min.js and uPlot.min.css");
  CLI11_PARSE(app, argc, argv);

  asio::io_context io; // Redis and signals; the listeners have their own threads
  std::shared_ptr<coronet::redis_layer> layer;
  if (!s.redis.empty()) {
    std::optional<coronet::result<std::shared_ptr<coronet::redis_layer>>> connected;
    asio::co_spawn(io, coronet::redis_layer::connect(io.get_executor(), s.redis),
                   [&](std::exception_ptr, auto r) { connected = std::move(r); });
    while (!connected && io.run_one()) {}
    if (!connected || !*connected) {
      std::fprintf(stderr, "dashboard_server: cannot use Redis at %s: %s\n", s.redis.c_str(),
                   connected ? connected->error().message().c_str() : "no answer");
      return 1;
    }
    layer = **connected;
  }
  coronet::groups groups({.slow_consumer = coronet::slow_consumer_policy::drop_oldest,
                          .member_backlog = 1024,
                          .history = s.history},
                         layer);
  state st(s, groups);
  auto assets = load_assets(s);

  std::vector<std::unique_ptr<coronet::server>> servers;
  auto start = [&](const std::string& url, bool page) -> bool {
    coronet::server_options o;
    o.threads = s.threads;
    o.handle_signals = false;
    o.max_message = page ? 4096 : 1024;
    auto scheme = coronet::transport_properties(url);
    if (!scheme) {
      std::fprintf(stderr, "dashboard_server: bad URL \"%s\"\n", url.c_str());
      return false;
    }
    coronet::connection_handler handler;
    if (page) {
      if (scheme->scheme != "ws" && scheme->scheme != "wss") {
        std::fprintf(stderr, "dashboard_server: --listen %s: pages connect over ws://\n",
                     url.c_str());
        return false;
      }
      o.websocket.http_handler = [&st, &assets](const coronet::http_request& r) {
        return http(st, assets, r);
      };
      o.websocket.ping_interval = 30s;
      o.send_queue_limit = 4 * 1024 * 1024;
      o.routes = {{"/live", [&st](coronet::channel ch) { return page_session(st, ch); }}};
    } else {
      handler = [&st](coronet::channel ch) { return ingest(st, ch); };
      o.udp.max_peers = 100'000;
    }
    auto server = std::make_unique<coronet::server>();
    if (auto started = server->start(url, handler, o); !started) {
      std::fprintf(stderr, "dashboard_server: cannot listen on %s: %s\n", url.c_str(),
                   started.error().message().c_str());
      return false;
    }
    auto shown = *coronet::parse_url(url);
    shown.port = server->port();
    std::printf("dashboard_server: %s %s\n", page ? "listening on" : "ingesting on",
                shown.to_string().c_str());
    servers.push_back(std::move(server));
    return true;
  };
  for (auto& url : s.ingest)
    if (!start(url, false)) return 1;
  for (auto& url : s.listen)
    if (!start(url, true)) return 1;
  std::printf("dashboard_server: %s\n",
              layer ? ("buildings shared through Redis at " + s.redis).c_str()
                    : "buildings in this process only (no --redis)");
  std::fflush(stdout);

  // The counters every 10 s while they change.
  asio::steady_timer tick(io);
  std::string last_stats;
  std::function<void()> report = [&] {
    tick.expires_after(10s);
    tick.async_wait([&](std::error_code ec) {
      if (ec) return;
      auto now = stats_json(st);
      if (now != last_stats) std::printf("dashboard_server: %s\n", now.c_str());
      std::fflush(stdout);
      last_stats = now;
      report();
    });
  };
  report();

  asio::signal_set signals(io, SIGINT, SIGTERM);
  auto work = asio::make_work_guard(io);
  std::thread stopper;
  signals.async_wait([&](std::error_code ec, int) {
    if (ec) return;
    tick.cancel();
    std::printf("dashboard_server: stopping\n");
    std::fflush(stdout);
    stopper = std::thread([&] {
      for (auto& server : servers) server->stop();
      asio::co_spawn(
          io,
          [&]() -> asio::awaitable<void> {
            if (layer) co_await layer->close();
            work.reset();
            io.stop();
          },
          asio::detached);
    });
  });
  io.run();
  if (stopper.joinable()) stopper.join();
  return 0;
}
