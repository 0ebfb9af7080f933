-- POSTs for bench/throughput.sh, one target per run (TARGET):
--   bare      the bare authenticated insert (the baseline)
--   validate  orders/validate: 3 preparations of 6 ingredients
--   submit    orders/: the same body, a fresh Idempotency-Key each time
--   fhir      the FHIR create, POST /fhir/r4/MedicationRequest: one preparation of the same 6 ingredients,
--             a fresh identifier and Idempotency-Key each time (FHIR_NPI: the token's prescriber's NPI)
--   refill    POST /api/v1/preparations/{id}/refills/: each request takes the next preparation of the pool in
--             REFILL_POOL (one id a line, bench/refill_pool.py); a preparation serves one refill (its new fill is
--             then in progress), so the pool must hold more ids than the run makes requests
local target = os.getenv("TARGET")
local token = os.getenv("TOKEN")
local prep = '{"base":"cream-base-pf","quantity":50,"unit":"g","target_ph":5.0,"directions":"Apply a thin layer nightly.","ingredients":['
  .. '{"ingredient":"pe9010","percent":1},{"ingredient":"niacinamide","percent":4},{"ingredient":"panthenol","percent":1},'
  .. '{"ingredient":"allantoin","percent":0.5},{"ingredient":"glycerin","percent":3},{"ingredient":"ceramide-np","percent":1}]}'
local order = '{"patient":{"first_name":"Bench","last_name":"Mark","date_of_birth":"1990-01-01"},'
  .. '"ship_to":{"line1":"1 Main St","city":"Oakland","state":"CA","postal_code":"94607"},'
  .. '"preparations":[' .. prep .. ',' .. prep .. ',' .. prep .. ']}'

local formulary = "https://compounding-portal.example/fhir/CodeSystem/formulary"
local function strength(code, percent)
  return '{"itemCodeableConcept":{"coding":[{"system":"' .. formulary .. '","code":"' .. code .. '"}]},"isActive":true,'
    .. '"strength":{"numerator":{"value":' .. percent .. ',"unit":"g","system":"http://unitsofmeasure.org","code":"g"},'
    .. '"denominator":{"value":100,"unit":"g","system":"http://unitsofmeasure.org","code":"g"}}}'
end
local medication = '{"resourceType":"Medication","id":"med","form":{"coding":[{"system":"http://snomed.info/sct","code":"385099005"}]},'
  .. '"ingredient":[{"itemCodeableConcept":{"coding":[{"system":"' .. formulary .. '","code":"cream-base-pf"}]},"isActive":false},'
  .. strength("pe9010", 1) .. ',' .. strength("niacinamide", 4) .. ',' .. strength("panthenol", 1) .. ','
  .. strength("allantoin", 0.5) .. ',' .. strength("glycerin", 3) .. ',' .. strength("ceramide-np", 1) .. ']}'
local patient = '{"resourceType":"Patient","id":"pat","name":[{"family":"Mark","given":["Bench"]}],"birthDate":"1990-01-01",'
  .. '"address":[{"use":"home","line":["1 Main St"],"city":"Oakland","state":"CA","postalCode":"94607"}]}'
local function fhir_create(identifier)
  return '{"resourceType":"MedicationRequest","contained":[' .. medication .. ',' .. patient .. '],'
    .. '"identifier":[{"system":"https://bench.example/rx","value":"' .. identifier .. '"}],"status":"active","intent":"order",'
    .. '"medicationReference":{"reference":"#med"},"subject":{"reference":"#pat"},'
    .. '"requester":{"identifier":{"system":"http://hl7.org/fhir/sid/us-npi","value":"' .. (os.getenv("FHIR_NPI") or "") .. '"}},'
    .. '"dosageInstruction":[{"text":"Apply a thin layer nightly.","route":{"coding":[{"system":"http://snomed.info/sct","code":"6064005"}]}}],'
    .. '"dispenseRequest":{"numberOfRepeatsAllowed":1,"quantity":{"value":50,"unit":"g","system":"http://unitsofmeasure.org","code":"g"}}}'
end

local paths = {bare = "/api/v1/bench/bare/", validate = "/api/v1/orders/validate/", submit = "/api/v1/orders/",
               fhir = "/fhir/r4/MedicationRequest"}
assert(paths[target] or target == "refill", "TARGET must be bare, validate, submit, fhir or refill")

-- wrk's threads each have their own Lua state: setup() numbers them, so each takes its own share of the refill pool
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("index", #threads)
end

local pool = nil
local function pool_ids()
  if pool == nil then
    pool = {}
    for line in io.lines(os.getenv("REFILL_POOL")) do
      if line ~= "" then table.insert(pool, line) end
    end
  end
  return pool
end

local counter = 0
-- a fresh table's address and the time tell the threads (and runs) apart in keys and identifiers
local thread_tag = tostring({}):gsub("table: ", "") .. "-" .. tostring(os.time())

request = function()
  counter = counter + 1
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Token " .. token}
  local path, body = paths[target], order
  if target == "bare" then
    body = "{}"
  elseif target == "submit" then
    headers["Idempotency-Key"] = "bench-" .. thread_tag .. "-" .. counter
  elseif target == "fhir" then
    headers["Content-Type"] = "application/fhir+json"
    headers["Idempotency-Key"] = "bench-fhir-" .. thread_tag .. "-" .. counter
    body = fhir_create("bench-" .. thread_tag .. "-" .. counter)
  elseif target == "refill" then
    local ids = pool_ids()
    -- thread i of n takes ids i, i+n, i+2n...: no two requests of the run ask for the same preparation
    local n = tonumber(os.getenv("WRK_THREADS") or "2")
    local position = index + (counter - 1) * n
    if position > #ids then
      -- the pool is spent: ask for a preparation that does not exist, so the run reports it as non-2xx
      path = "/api/v1/preparations/00000000-0000-0000-0000-000000000000/refills/"
    else
      path = "/api/v1/preparations/" .. ids[position] .. "/refills/"
    end
    body = "{}"
  end
  return wrk.format("POST", path, headers, body)
end
