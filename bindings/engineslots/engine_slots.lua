#!lua name=engine_slots
--[[
engine_slots: the server side of remote tables (Redis 7.0+ Functions).

This file is the protocol. Every client (Rust/C in src/remote/, Go in
bindings/go) loads this very file and calls its functions with FCALL; each
call is one atomic step on the server. docs/REMOTE.md documents every key,
argument and reply; keep it in step with this file.

Calls: FCALL <fn> 1 <prefix> <args...>, prefix = "es:{<table name>}", so
every key of a table shares one hash tag. Every reply is an array whose first
element is a status (the es_status values of the C ABI, plus NO_TABLE);
payload follows. Handles travel as 16 lowercase hex digits:
  kind (1 hex: 'e' engine, 'a' ticket) | generation (10 hex, random, never 0)
  | slot index (5 hex)
Generations are drawn from the caller's nonce and the server clock, never
from a counter, so a handle stays unique even after the server lost writes.
]]

local MAJOR = 1 -- protocol major: clients refuse a library of another major
local MINOR = 1 -- additions only; a client with a higher minor reloads
local FORMAT = 'engine_slots/1' -- data format, in the meta hash

-- Limits: the same as the Rust crate's (a Rust test compares them).
local MAX_ENGINES = 65535
local MAX_TICKETS = 1048576
local MAX_CAPACITY = 2047
local KEY_MAX = 256
local MAX_LEASE_MS = 2147483647 - 3600000
local MAX_SESSION_MS = 86400000
-- Most tickets one call reclaims (bounds the time a call holds the server).
local RECLAIM_BUDGET = 4096

local OK, NO_CAPACITY = 0, 1
local INVALID, TABLE_FULL, EXISTS, NOT_FOUND, STALE, CORRUPT = -2, -3, -4, -5, -6, -8
local NO_TABLE = 100 -- the table does not exist (never created, unlinked, lost)

local POLICY_LEAST_LOADED, POLICY_FILL_FIRST, POLICY_TWO_CHOICES = 0, 1, 2

local GEN_SPACE = 1099511627776 -- 2^40
-- load/capacity as an integer that keeps the exact order of the fractions:
-- floor(load * QUANT / capacity) with QUANT > MAX_CAPACITY^2 (two different
-- fractions differ by at least 1/MAX_CAPACITY^2).
local QUANT = 2
while QUANT <= MAX_CAPACITY * MAX_CAPACITY do
  QUANT = QUANT * 2
end
local TIER = 2 * QUANT -- an unhealthy engine's score offset

local function corrupt(what)
  error({ err = 'ESCORRUPT ' .. what })
end

local function fmt_int(n)
  return string.format('%d', n)
end

-- An integer argument in [lo, hi], or nil.
local function int_arg(s, lo, hi)
  if type(s) ~= 'string' or not s:match('^%-?%d+$') then
    return nil
  end
  local n = tonumber(s)
  if n == nil or n < lo or n > hi then
    return nil
  end
  return n
end

-- A stored integer, or a corrupt-table error.
local function int_field(s, what)
  local n = tonumber(s)
  if n == nil or n ~= math.floor(n) then
    corrupt(what)
  end
  return n
end

local function is_hex16(s)
  return type(s) == 'string' and #s == 16 and not s:find('[^0-9a-f]')
end

-- The handle's (slot, generation) if it is a well-formed handle of `kind`.
local function parse_handle(h, kind)
  if not is_hex16(h) or h:sub(1, 1) ~= kind then
    return nil
  end
  local gen = h:sub(2, 11)
  if gen == '0000000000' then
    return nil
  end
  return tonumber(h:sub(12, 16), 16), gen
end

local function make_handle(kind, gen, slot)
  return kind .. gen .. string.format('%05x', slot)
end

-- A fresh 40-bit generation (10 hex) from the caller's nonce and the
-- server's microseconds, never 0 and never `prev`.
local function new_gen(nonce, now_us, prev)
  local g = (tonumber(nonce:sub(1, 10), 16) + now_us) % GEN_SPACE
  if g == 0 then
    g = 1
  end
  local s = string.format('%010x', g)
  if s == prev then
    s = string.format('%010x', g % (GEN_SPACE - 1) + 1)
  end
  return s
end

-- The table's clocks, read when first needed (TIME is a call): the lease
-- clock (leases and the least-recently-reserved order) is the test clock
-- when the meta field clk is set (tests), else TIME; the real clock
-- (sessions, generations) is always TIME.
local function real_us(t)
  if not t.real then
    local tm = redis.call('TIME')
    t.real = tonumber(tm[1]) * 1000000 + tonumber(tm[2])
  end
  return t.real
end

local function real_ms(t)
  return math.floor(real_us(t) / 1000)
end

local function now_us(t)
  if t.clk then
    return t.clk * 1000
  end
  return real_us(t)
end

local function now_ms(t)
  if t.clk then
    return t.clk
  end
  return real_ms(t)
end

-- The meta hash holds few fields, each one string: every call reads it,
-- and each element a command takes or returns costs the server about a
-- microsecond. cfg = "me mt dc pl al po", cnt = "eh tn tp ta".
local CFG_FIELDS = { 'me', 'mt', 'dc', 'pl', 'al', 'po' }
local CNT_FIELDS = { 'eh', 'tn', 'tp', 'ta' }

-- The n non-negative integers of a space-separated string, or nil (one
-- pattern match: Lua loops cost the server more than the data they read).
local INTS = { '^(%d+)$', nil, nil, '^(%d+) (%d+) (%d+) (%d+)$', nil, '^(%d+) (%d+) (%d+) (%d+) (%d+) (%d+)$' }

local function ints(s, n)
  if type(s) ~= 'string' then
    return nil
  end
  local out = { s:match(INTS[n]) }
  if #out ~= n then
    return nil
  end
  for i = 1, n do
    out[i] = tonumber(out[i])
  end
  return out
end

-- Reads the meta hash: (table, nil) or (nil, status).
local function read_meta(p)
  local m = redis.pcall('HMGET', p .. ':meta', 'fmt', 'cfg', 'cnt', 'clk')
  if type(m) == 'table' and m.err then
    return nil, CORRUPT -- not a hash
  end
  if not m[1] then
    if redis.call('EXISTS', p .. ':meta') == 1 then
      return nil, CORRUPT -- a hash, but not ours
    end
    return nil, NO_TABLE
  end
  if m[1] ~= FORMAT then
    return nil, CORRUPT -- another data format (or version)
  end
  local cfg, cnt = ints(m[2], 6), ints(m[3], 4)
  if not cfg or not cnt then
    return nil, CORRUPT
  end
  local t = { p = p }
  for i, f in ipairs(CFG_FIELDS) do
    t[f] = cfg[i]
  end
  for i, f in ipairs(CNT_FIELDS) do
    t[f] = cnt[i]
  end
  if m[4] then
    t.clk = ints(m[4], 1)
    if not t.clk then
      return nil, CORRUPT
    end
    t.clk = t.clk[1]
  end
  if t.me < 1 or t.me > MAX_ENGINES or t.mt < 1 or t.mt > MAX_TICKETS or t.po > 2
    or t.dc < 1 or t.dc > MAX_CAPACITY or t.eh > t.me or t.tn > t.mt then
    return nil, CORRUPT
  end
  return t
end

-- Writes the table's counters back.
local function save_counts(t)
  redis.call('HSET', t.p .. ':meta', 'cnt', fmt_int(t.eh) .. ' ' .. fmt_int(t.tn) .. ' '
    .. fmt_int(t.tp) .. ' ' .. fmt_int(t.ta))
end

-- The table named by keys[1]: (table, nil) or (nil, status).
local function open_table(keys)
  return read_meta(keys[1])
end

local function pending_lease(t)
  return math.min(t.pl, MAX_LEASE_MS)
end

local function active_lease(t)
  return math.min(t.al, MAX_LEASE_MS)
end

---------------------------------------------------------------- sessions --

-- A session is a client's table handle; its deadline (server TIME, ms, never
-- the test clock) is its score in :sess. Its tickets are listed in the set :s:<sid>. A session
-- whose deadline passed is dead: reclaim takes its tickets back.
local function check_session(sid, ms)
  return is_hex16(sid) and int_arg(ms, 1, MAX_SESSION_MS)
end

local function session_touch(t, sid, ms)
  redis.call('ZADD', t.p .. ':sess', 'GT', fmt_int(real_ms(t) + ms), sid)
end

-- Forgets a few dead sessions that hold no ticket (those that do wait for
-- reclaim), so sessions of clients that died idle do not pile up.
local function prune_sessions(t)
  local now = fmt_int(real_ms(t))
  for _, sid in ipairs(redis.call('ZRANGEBYSCORE', t.p .. ':sess', '-inf', now, 'LIMIT', 0, 16)) do
    if redis.call('EXISTS', t.p .. ':s:' .. sid) == 0 then
      redis.call('ZREM', t.p .. ':sess', sid)
    end
  end
end

----------------------------------------------------------------- engines --

-- Engine record :e:<slot>, one string (one element to read and write):
-- "<g> <c> <a> <p> <x> <h> <d> <pr> <l> <rt> <xt> <m> <k>" = generation
-- (10 hex), capacity, active, pending, external, healthy (1/0), draining
-- (1/0), priority, last reservation (us), reserved total, expired total,
-- its member in :room ('-' when it has no room), and last the key (any
-- bytes, to the end). A removed engine's record is its generation alone,
-- so the slot's next engine gets another one.
local ENGINE_RECORD = '^(%x+) (%d+) (%d+) (%d+) (%d+) ([01]) ([01]) (%-?%d+) (%d+) (%d+) (%d+) (%S+) (.+)$'

-- The live engine in `slot`, or (nil, the slot's last generation).
local function load_engine(t, slot)
  local v = redis.call('GET', t.p .. ':e:' .. slot)
  if not v then
    return nil, nil
  end
  local g, c, a, p, x, h, d, pr, l, rt, xt, m, k = v:match(ENGINE_RECORD)
  if not g then
    if v:match('^%x+$') then
      return nil, v
    end
    corrupt('engine ' .. slot)
  end
  return {
    slot = slot, g = g, k = k, c = tonumber(c), a = tonumber(a), p = tonumber(p),
    x = tonumber(x), h = h == '1', d = d == '1', pr = tonumber(pr), l = tonumber(l),
    rt = tonumber(rt), xt = tonumber(xt), m = m == '-' and '' or m,
  }
end

local function save_engine(t, e)
  redis.call('SET', t.p .. ':e:' .. e.slot, table.concat({
    e.g, fmt_int(e.c), fmt_int(e.a), fmt_int(e.p), fmt_int(e.x), e.h and '1' or '0',
    e.d and '1' or '0', fmt_int(e.pr), fmt_int(e.l), fmt_int(e.rt), fmt_int(e.xt),
    e.m == '' and '-' or e.m, e.k,
  }, ' '))
end

-- The live engine behind handle h, or nil.
local function resolve(t, h)
  local slot, gen = parse_handle(h, 'e')
  if not slot or slot >= t.me then
    return nil
  end
  local e = load_engine(t, slot)
  if not e or e.g ~= gen then
    return nil
  end
  return e
end

local function engine_handle(e)
  return make_handle('e', e.g, e.slot)
end

-- :room holds exactly the engines that admit now (live, not draining,
-- load < capacity), ordered so that ZRANGE 0 0 is the policy's pick:
-- score = health tier + load/capacity (fullest first for fill-first);
-- equal scores order by member = priority (higher first) .. last
-- reservation (older first; least-loaded only) .. slot (lower first).
local function room_entry(t, e)
  local load = e.a + e.p + e.x
  if e.d or load >= e.c then
    return nil
  end
  local q = math.floor(load * QUANT / e.c)
  local score = e.h and 0 or TIER
  local prio = string.format('%08x', 2147483647 - e.pr)
  local slot = string.format('%04x', e.slot)
  if t.po == POLICY_FILL_FIRST then
    return score + (QUANT - 1 - q), prio .. slot
  end
  return score + q, prio .. string.format('%014x', e.l) .. slot
end

local function room_update(t, e)
  local score, member = room_entry(t, e)
  if e.m ~= '' and e.m ~= member then
    redis.call('ZREM', t.p .. ':room', e.m)
  end
  if member then
    redis.call('ZADD', t.p .. ':room', score, member)
  end
  e.m = member or ''
end

local function slot_of(member)
  return tonumber(member:sub(-4), 16)
end

-- The engine the policy picks among those with room, or nil. O(log n):
-- one end of the sorted set, or two random members for two-choices.
local function select_engine(t)
  local room = t.p .. ':room'
  local member
  if t.po == POLICY_TWO_CHOICES then
    local r = redis.call('ZRANDMEMBER', room, 2, 'WITHSCORES')
    if #r == 0 then
      return nil
    end
    member = r[1]
    if #r == 4 and tonumber(r[4]) < tonumber(r[2]) then
      member = r[3]
    end
  else
    local r = redis.call('ZRANGE', room, 0, 0)
    if #r == 0 then
      return nil
    end
    member = r[1]
  end
  local e = load_engine(t, slot_of(member))
  if not e or e.m ~= member then
    corrupt('room set')
  end
  return e
end

local function has_room(e)
  return not e.d and e.a + e.p + e.x < e.c
end

-- The caller's own 64-bit word per engine (es_engine_set_user), kept
-- apart from the engine record in the hash :user as a decimal string;
-- absent means 0.
local function user_of(t, e)
  return redis.call('HGET', t.p .. ':user', e.slot) or '0'
end

local U64_MAX = '18446744073709551615'

-- A u64 in decimal (Lua numbers cannot hold it), or nil.
local function u64_arg(s)
  if type(s) ~= 'string' or not s:match('^%d+$') or #s > 20 then
    return nil
  end
  s = s:gsub('^0+(%d)', '%1')
  if #s == 20 and s > U64_MAX then
    return nil
  end
  return s
end

local function set_user(t, e, u)
  if u == '0' then
    redis.call('HDEL', t.p .. ':user', e.slot)
  else
    redis.call('HSET', t.p .. ':user', e.slot, u)
  end
end

local function stats_row(t, e)
  return {
    engine_handle(e), e.k, e.c, e.a, e.p, e.x, e.pr, e.h and 1 or 0, e.d and 1 or 0, e.rt, e.xt,
    user_of(t, e),
  }
end

----------------------------------------------------------------- tickets --

-- Ticket record: field <slot> of the hash :tk, value
-- "<gen> <P|A> <engine slot> <engine gen> <deadline ms, 0 = none> <sid>".
-- Deadlines (when the lease is not 0) are also scores in :dl. Free slots
-- below :meta tn sit in the list :tfree as "<slot> <last gen>".
local function load_ticket(t, slot)
  local v = redis.call('HGET', t.p .. ':tk', slot)
  if not v then
    return nil
  end
  local g, st, es, eg, dl, sid = v:match('^(%x+) ([PA]) (%d+) (%x+) (%d+) (%x+)$')
  if not g then
    corrupt('ticket ' .. slot)
  end
  return { slot = slot, g = g, st = st, es = tonumber(es), eg = eg, dl = tonumber(dl), sid = sid }
end

local function save_ticket(t, k)
  redis.call('HSET', t.p .. ':tk', k.slot,
    k.g .. ' ' .. k.st .. ' ' .. k.es .. ' ' .. k.eg .. ' ' .. fmt_int(k.dl) .. ' ' .. k.sid)
  if k.dl ~= 0 then
    redis.call('ZADD', t.p .. ':dl', fmt_int(k.dl), k.slot)
  else
    redis.call('ZREM', t.p .. ':dl', k.slot)
  end
end

-- The ticket behind handle h if it is live and in state st, or nil.
local function resolve_ticket(t, h, st)
  local slot, gen = parse_handle(h, 'a')
  if not slot or slot >= t.mt then
    return nil
  end
  local k = load_ticket(t, slot)
  if not k or k.g ~= gen or k.st ~= st then
    return nil
  end
  return k
end

local function lease_over(t, k)
  return k.dl ~= 0 and now_ms(t) >= k.dl
end

-- The ticket's engine if it is still the one the ticket counts on.
local function ticket_engine(t, k)
  local e = load_engine(t, k.es)
  if e and e.g == k.eg then
    return e
  end
  return nil
end

-- Finishes ticket k: its engine (if still the same) gives the slot back.
local function end_ticket(t, k, expired)
  local e = ticket_engine(t, k)
  if e then
    if k.st == 'P' then
      e.p = e.p - 1
    else
      e.a = e.a - 1
    end
    if expired then
      e.xt = e.xt + 1
    end
    room_update(t, e)
    save_engine(t, e)
  end
  redis.call('HDEL', t.p .. ':tk', k.slot)
  if k.dl ~= 0 then
    redis.call('ZREM', t.p .. ':dl', k.slot)
  end
  redis.call('SREM', t.p .. ':s:' .. k.sid, k.slot)
  redis.call('RPUSH', t.p .. ':tfree', k.slot .. ' ' .. k.g)
  if k.st == 'P' then
    t.tp = t.tp - 1
  else
    t.ta = t.ta - 1
  end
  save_counts(t)
end

-- Reclaims tickets whose lease is over and the tickets of dead sessions,
-- at most `budget`; returns how many. O(k log n) for k reclaimed.
local function reclaim(t, budget)
  local n = 0
  local due = redis.call('ZRANGEBYSCORE', t.p .. ':dl', '-inf', fmt_int(now_ms(t)), 'LIMIT', 0, budget)
  for _, slot in ipairs(due) do
    local k = load_ticket(t, slot)
    if k then
      end_ticket(t, k, true)
      n = n + 1
    else
      redis.call('ZREM', t.p .. ':dl', slot)
    end
  end
  local dead = redis.call('ZRANGEBYSCORE', t.p .. ':sess', '-inf', fmt_int(real_ms(t)), 'LIMIT', 0, 64)
  for _, sid in ipairs(dead) do
    if n >= budget then
      break
    end
    local set = t.p .. ':s:' .. sid
    for _, slot in ipairs(redis.call('SRANDMEMBER', set, budget - n)) do
      local k = load_ticket(t, slot)
      if k and k.sid == sid then
        end_ticket(t, k, false)
        n = n + 1
      else
        redis.call('SREM', set, slot)
      end
    end
    if redis.call('EXISTS', set) == 0 then
      redis.call('ZREM', t.p .. ':sess', sid)
    end
  end
  return n
end

------------------------------------------------------------------ config --

local CFG_LIMITS = {
  { 1, MAX_ENGINES }, { 1, MAX_TICKETS }, { 1, MAX_CAPACITY }, { 0, 4294967295 }, { 0, 4294967295 }, { 0, 2 },
}

local function config_reply(t)
  return { OK, t.me, t.mt, t.dc, t.pl, t.al, t.po }
end

----------------------------------------------------------------- functions --

-- es_version(): { MAJOR, MINOR }
local function es_version(keys, args)
  return { MAJOR, MINOR }
end

-- es_open(sid, session_ms, have_cfg, me, mt, dc, pl, al, po)
-- Opens the table, creating it when it does not exist and have_cfg is '1';
-- with have_cfg '1' an existing table's config must be equal (else INVALID).
-- Registers the session. Reply { OK, me, mt, dc, pl, al, po } or
-- { NOT_FOUND } (no table, no config), { INVALID }, { CORRUPT }.
local function es_open(keys, args)
  local sid, sms, have = args[1], args[2], args[3] == '1'
  if not check_session(sid, sms) then
    return { INVALID }
  end
  local cfg = {}
  if have then
    for i = 1, 6 do
      cfg[i] = int_arg(args[3 + i], CFG_LIMITS[i][1], CFG_LIMITS[i][2])
      if not cfg[i] then
        return { INVALID }
      end
    end
  end
  local p = keys[1]
  local t, st = read_meta(p)
  if not t then
    if st ~= NO_TABLE then
      return { st }
    end
    if not have then
      return { NOT_FOUND }
    end
    -- Leftovers of an earlier incarnation (if any) must not leak into this one.
    redis.call('DEL', p .. ':keys', p .. ':live', p .. ':efree', p .. ':room', p .. ':tk', p .. ':tfree',
      p .. ':dl')
    local c = {}
    for i = 1, 6 do
      c[i] = fmt_int(cfg[i])
    end
    redis.call('HSET', p .. ':meta', 'fmt', FORMAT, 'cfg', table.concat(c, ' '), 'cnt', '0 0 0 0')
    t = read_meta(p)
  elseif have then
    local mine = { t.me, t.mt, t.dc, t.pl, t.al, t.po }
    for i = 1, 6 do
      if mine[i] ~= cfg[i] then
        return { INVALID }
      end
    end
  end
  prune_sessions(t)
  session_touch(t, sid, tonumber(sms))
  return config_reply(t)
end

-- es_unlink(): deletes every key of the table. { OK } or { NOT_FOUND }.
local function es_unlink(keys, args)
  local p = keys[1]
  local existed = redis.call('EXISTS', p .. ':meta') == 1
  local hwm = MAX_ENGINES
  local ok, cnt = pcall(redis.call, 'HGET', p .. ':meta', 'cnt')
  local eh = ok and ints(cnt, 4)
  if eh then
    hwm = math.min(eh[1], MAX_ENGINES)
  end
  local ok2, sessions = pcall(redis.call, 'ZRANGE', p .. ':sess', 0, -1)
  if ok2 then
    for _, sid in ipairs(sessions) do
      redis.call('UNLINK', p .. ':s:' .. sid)
    end
  end
  for i = 0, hwm - 1 do
    redis.call('UNLINK', p .. ':e:' .. i)
  end
  redis.call('UNLINK', p .. ':meta', p .. ':keys', p .. ':live', p .. ':efree', p .. ':room',
    p .. ':tk', p .. ':tfree', p .. ':dl', p .. ':sess')
  if existed then
    return { OK }
  end
  return { NOT_FOUND }
end

-- es_beat(sid, session_ms): renews the session. { OK }.
local function es_beat(keys, args)
  local t, st = open_table(keys)
  if not t then
    return { st }
  end
  if not check_session(args[1], args[2]) then
    return { INVALID }
  end
  session_touch(t, args[1], tonumber(args[2]))
  return { OK }
end

-- es_close(sid): ends a session that holds no ticket (one that does is left
-- to expire, so its tickets come back one session length later). { OK }.
local function es_close(keys, args)
  local t, st = open_table(keys)
  if not t then
    return { st }
  end
  if not is_hex16(args[1]) then
    return { INVALID }
  end
  if redis.call('EXISTS', t.p .. ':s:' .. args[1]) == 0 then
    redis.call('ZREM', t.p .. ':sess', args[1])
  end
  return { OK }
end

local function check_key(k)
  return type(k) == 'string' and #k >= 1 and #k <= KEY_MAX
end

-- es_add(key, capacity, healthy, priority, external, draining, nonce)
-- { OK, engine } or { INVALID | EXISTS | TABLE_FULL }.
local function es_add(keys, args)
  local t, st = open_table(keys)
  if not t then
    return { st }
  end
  local key = args[1]
  local cap = int_arg(args[2], 0, 4294967295)
  local prio = int_arg(args[4], -2147483648, 2147483647)
  local ext = int_arg(args[5], 0, 4294967295)
  local nonce = args[7]
  local user = u64_arg(args[8] or '0')
  if not check_key(key) or not cap or not prio or not ext or not is_hex16(nonce) or not user then
    return { INVALID }
  end
  if cap == 0 then
    cap = t.dc
  end
  if cap > MAX_CAPACITY then
    return { INVALID }
  end
  if redis.call('HEXISTS', t.p .. ':keys', key) == 1 then
    return { EXISTS }
  end
  local slot
  local free = redis.call('ZRANGE', t.p .. ':efree', 0, 0)
  if #free > 0 then
    slot = tonumber(free[1])
    redis.call('ZREM', t.p .. ':efree', free[1])
  elseif t.eh < t.me then
    slot = t.eh
    t.eh = t.eh + 1
    save_counts(t)
  else
    return { TABLE_FULL }
  end
  local _, prev = load_engine(t, slot)
  local e = {
    slot = slot, g = new_gen(nonce, real_us(t), prev), k = key, c = cap, a = 0, p = 0, x = ext,
    h = args[3] == '1', d = args[6] == '1', pr = prio, l = 0, rt = 0, xt = 0, m = '',
  }
  room_update(t, e)
  save_engine(t, e)
  set_user(t, e, user)
  redis.call('HSET', t.p .. ':keys', key, slot)
  redis.call('ZADD', t.p .. ':live', slot, slot)
  return { OK, engine_handle(e) }
end

-- es_find(key): { OK, engine } or { INVALID | NOT_FOUND }.
local function es_find(keys, args)
  local t, st = open_table(keys)
  if not t then
    return { st }
  end
  if not check_key(args[1]) then
    return { INVALID }
  end
  local slot = redis.call('HGET', t.p .. ':keys', args[1])
  if not slot then
    return { NOT_FOUND }
  end
  local e = load_engine(t, int_field(slot, 'key index'))
  if not e or e.k ~= args[1] then
    corrupt('key index')
  end
  return { OK, engine_handle(e) }
end

-- es_set(engine, what, value): what is one of capacity (1..MAX_CAPACITY),
-- healthy (0/1), priority (i32), external (u32), draining (0/1).
-- { OK } or { STALE | INVALID }; a stale handle wins over a bad value.
local SETTERS = {
  capacity = { 1, MAX_CAPACITY, function(e, v) e.c = v end },
  healthy = { 0, 1, function(e, v) e.h = v == 1 end },
  priority = { -2147483648, 2147483647, function(e, v) e.pr = v end },
  external = { 0, 4294967295, function(e, v) e.x = v end },
  draining = { 0, 1, function(e, v) e.d = v == 1 end },
}

local function es_set(keys, args)
  local t, st = open_table(keys)
  if not t then
    return { st }
  end
  local setter = SETTERS[args[2]]
  local e = resolve(t, args[1])
  if not e then
    return { STALE }
  end
  if args[2] == 'user' then
    local u = u64_arg(args[3])
    if not u then
      return { INVALID }
    end
    set_user(t, e, u)
    return { OK }
  end
  local v = setter and int_arg(args[3], setter[1], setter[2])
  if not v then
    return { INVALID }
  end
  setter[3](e, v)
  room_update(t, e)
  save_engine(t, e)
  return { OK }
end

-- es_remove(engine): frees the slot at once; its tickets can only be
-- finished. { OK } or { STALE }.
local function es_remove(keys, args)
  local t, st = open_table(keys)
  if not t then
    return { st }
  end
  local e = resolve(t, args[1])
  if not e then
    return { STALE }
  end
  if e.m ~= '' then
    redis.call('ZREM', t.p .. ':room', e.m)
  end
  redis.call('HDEL', t.p .. ':keys', e.k)
  redis.call('HDEL', t.p .. ':user', e.slot)
  redis.call('ZREM', t.p .. ':live', e.slot)
  redis.call('ZADD', t.p .. ':efree', e.slot, e.slot)
  redis.call('SET', t.p .. ':e:' .. e.slot, e.g)
  return { OK }
end

-- The engine to admit on (target or the policy's pick) if it has room.
local function choose(t, target)
  if target then
    local e = load_engine(t, target.slot)
    if e and e.g == target.g and has_room(e) then
      return e
    end
    return nil
  end
  return select_engine(t)
end

-- es_reserve(sid, session_ms, nonce, engine or '')
-- Select + admit + create the ticket in one step; reclaims (leases, dead
-- sessions) only when no ticket slot or no engine has room.
-- { OK, ticket, engine } or { NO_CAPACITY | TABLE_FULL | STALE | INVALID }.
local function es_reserve(keys, args)
  local t, st = open_table(keys)
  if not t then
    return { st }
  end
  local sid, sms, nonce, target = args[1], args[2], args[3], args[4]
  if not check_session(sid, sms) or not is_hex16(nonce) then
    return { INVALID }
  end
  session_touch(t, sid, tonumber(sms))
  local te
  if target ~= nil and target:sub(1, 2) == 'k:' then
    -- 'k:<key>': the engine registered under that key.
    local key = target:sub(3)
    if not check_key(key) then
      return { INVALID }
    end
    local slot = redis.call('HGET', t.p .. ':keys', key)
    if not slot then
      return { NOT_FOUND }
    end
    te = load_engine(t, int_field(slot, 'key index'))
    if not te or te.k ~= key then
      corrupt('key index')
    end
  elseif target ~= nil and target ~= '' then
    te = resolve(t, target)
    if not te then
      return { STALE }
    end
  end
  if t.tp + t.ta >= t.mt then
    reclaim(t, RECLAIM_BUDGET)
    if t.tp + t.ta >= t.mt then
      return { TABLE_FULL }
    end
  end
  local e = choose(t, te)
  if not e then
    if reclaim(t, RECLAIM_BUDGET) > 0 then
      e = choose(t, te)
    end
    if not e then
      return { NO_CAPACITY }
    end
  end
  if not has_room(e) then
    corrupt('room set')
  end
  e.p = e.p + 1
  e.rt = e.rt + 1
  e.l = now_us(t)
  room_update(t, e)
  save_engine(t, e)

  local slot, prev
  local free = redis.call('LPOP', t.p .. ':tfree')
  if free then
    local s, g = free:match('^(%d+) (%x+)$')
    if not s then
      corrupt('ticket free list')
    end
    slot, prev = tonumber(s), g
  else
    slot = t.tn
    t.tn = t.tn + 1
  end
  local lease = pending_lease(t)
  local k = {
    slot = slot, g = new_gen(nonce, real_us(t), prev), st = 'P', es = e.slot, eg = e.g,
    dl = lease ~= 0 and now_ms(t) + lease or 0, sid = sid,
  }
  save_ticket(t, k)
  redis.call('SADD', t.p .. ':s:' .. sid, slot)
  t.tp = t.tp + 1
  save_counts(t)
  return { OK, make_handle('a', k.g, slot), engine_handle(e) }
end

-- es_commit(ticket): pending -> active. { OK } or { STALE } (not pending,
-- lease over: then reclaimed, engine removed: then finished).
local function es_commit(keys, args)
  local t, st = open_table(keys)
  if not t then
    return { st }
  end
  local k = resolve_ticket(t, args[1], 'P')
  if not k then
    return { STALE }
  end
  if lease_over(t, k) then
    end_ticket(t, k, true)
    return { STALE }
  end
  local e = ticket_engine(t, k)
  if not e then
    end_ticket(t, k, false)
    return { STALE }
  end
  e.p = e.p - 1
  e.a = e.a + 1
  save_engine(t, e) -- same load: its place in :room does not move
  local lease = active_lease(t)
  k.st = 'A'
  k.dl = lease ~= 0 and now_ms(t) + lease or 0
  save_ticket(t, k)
  t.tp = t.tp - 1
  t.ta = t.ta + 1
  save_counts(t)
  return { OK }
end

-- es_cancel(ticket) / es_release(ticket): finishes a pending / active
-- ticket. { OK } (also when its engine was removed) or { STALE }.
local function finish(keys, args, st_needed)
  local t, st = open_table(keys)
  if not t then
    return { st }
  end
  local k = resolve_ticket(t, args[1], st_needed)
  if not k then
    return { STALE }
  end
  if lease_over(t, k) then
    end_ticket(t, k, true)
    return { STALE }
  end
  end_ticket(t, k, false)
  return { OK }
end

-- es_finish(ticket): cancels a pending or releases an active ticket.
-- { OK } or { STALE }.
local function es_finish(keys, args)
  local t, st = open_table(keys)
  if not t then
    return { st }
  end
  local k = resolve_ticket(t, args[1], 'P') or resolve_ticket(t, args[1], 'A')
  if not k then
    return { STALE }
  end
  end_ticket(t, k, lease_over(t, k))
  if lease_over(t, k) then
    return { STALE }
  end
  return { OK }
end

-- es_release_ext(ticket): releases an active ticket and counts its unit as
-- external load on its engine until the next es_set external. { OK } or
-- { STALE }.
local function es_release_ext(keys, args)
  local t, st = open_table(keys)
  if not t then
    return { st }
  end
  local k = resolve_ticket(t, args[1], 'A')
  if not k then
    return { STALE }
  end
  if lease_over(t, k) then
    end_ticket(t, k, true)
    return { STALE }
  end
  end_ticket(t, k, false)
  local e = ticket_engine(t, k)
  if e then
    e.x = e.x + 1
    room_update(t, e)
    save_engine(t, e)
  end
  return { OK }
end

local function es_cancel(keys, args)
  return finish(keys, args, 'P')
end

local function es_release(keys, args)
  return finish(keys, args, 'A')
end

-- es_touch(ticket): restarts an active ticket's lease (never shortens it).
-- { OK } or { STALE } (not active, engine removed, lease over: reclaimed).
local function es_touch(keys, args)
  local t, st = open_table(keys)
  if not t then
    return { st }
  end
  local k = resolve_ticket(t, args[1], 'A')
  if not k or not ticket_engine(t, k) then
    return { STALE }
  end
  if lease_over(t, k) then
    end_ticket(t, k, true)
    return { STALE }
  end
  local lease = active_lease(t)
  if lease ~= 0 then
    k.dl = math.max(k.dl, now_ms(t) + lease)
    save_ticket(t, k)
  end
  return { OK }
end

-- es_reclaim(): { OK, reclaimed } (at most RECLAIM_BUDGET per call).
local function es_reclaim(keys, args)
  local t, st = open_table(keys)
  if not t then
    return { st }
  end
  return { OK, reclaim(t, RECLAIM_BUDGET) }
end

-- es_stats(engine): { OK, row } or { STALE }; row = { engine, key,
-- capacity, active, pending, external, priority, healthy, draining,
-- reserved_total, expired_total }.
local function es_stats(keys, args)
  local t, st = open_table(keys)
  if not t then
    return { st }
  end
  local e = resolve(t, args[1])
  if not e then
    return { STALE }
  end
  return { OK, stats_row(t, e) }
end

-- es_snapshot(): { OK, row, row, ... } in slot order.
local function es_snapshot(keys, args)
  local t, st = open_table(keys)
  if not t then
    return { st }
  end
  local out = { OK }
  for _, slot in ipairs(redis.call('ZRANGE', t.p .. ':live', 0, -1)) do
    local e = load_engine(t, int_field(slot, 'live set'))
    if not e then
      corrupt('live set')
    end
    out[#out + 1] = stats_row(t, e)
  end
  return out
end

-- es_counts(): { OK, free, pending, active } ticket slots.
local function es_counts(keys, args)
  local t, st = open_table(keys)
  if not t then
    return { st }
  end
  return { OK, t.mt - t.tp - t.ta, t.tp, t.ta }
end

-- es_test_clock(ms or ''): sets (or clears) the table's test clock: leases
-- and the least-recently-reserved order then read `ms`, frozen until set
-- again. For tests only. { OK } or { INVALID }.
local function es_test_clock(keys, args)
  local t, st = open_table(keys)
  if not t then
    return { st }
  end
  if args[1] == nil or args[1] == '' then
    redis.call('HDEL', t.p .. ':meta', 'clk')
    return { OK }
  end
  local ms = int_arg(args[1], 0, 9007199254740991)
  if not ms then
    return { INVALID }
  end
  redis.call('HSET', t.p .. ':meta', 'clk', fmt_int(ms))
  return { OK }
end

local function register(name, fn, readonly)
  redis.register_function({
    function_name = name,
    callback = fn,
    flags = readonly and { 'no-writes' } or {},
  })
end

register('es_version', es_version, true)
register('es_open', es_open)
register('es_unlink', es_unlink)
register('es_beat', es_beat)
register('es_close', es_close)
register('es_add', es_add)
register('es_find', es_find, true)
register('es_set', es_set)
register('es_remove', es_remove)
register('es_reserve', es_reserve)
register('es_commit', es_commit)
register('es_cancel', es_cancel)
register('es_release', es_release)
register('es_release_ext', es_release_ext)
register('es_finish', es_finish)
register('es_touch', es_touch)
register('es_reclaim', es_reclaim)
register('es_stats', es_stats, true)
register('es_snapshot', es_snapshot, true)
register('es_counts', es_counts, true)
register('es_test_clock', es_test_clock)
