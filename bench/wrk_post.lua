-- POSTs for bench/throughput.sh: the bare endpoint, validate, or submit (a fresh Idempotency-Key each time).
local target = os.getenv("TARGET")
local token = os.getenv("TOKEN")
local prep = '{"base":"cream-base-pf","quantity":50,"unit":"g","target_ph":5.0,"directions":"Apply a thin layer nightly.","ingredients":['
  .. '{"ingredient":"pe9010","percent":1},{"ingredient":"niacinamide","percent":4},{"ingredient":"panthenol","percent":1},'
  .. '{"ingredient":"allantoin","percent":0.5},{"ingredient":"glycerin","percent":3},{"ingredient":"ceramide-np","percent":1}]}'
local order = '{"patient":{"first_name":"Bench","last_name":"Mark","date_of_birth":"1990-01-01"},'
  .. '"ship_to":{"line1":"1 Main St","city":"Oakland","state":"CA","postal_code":"94607"},'
  .. '"preparations":[' .. prep .. ',' .. prep .. ',' .. prep .. ']}'
local paths = {bare = "/api/v1/bench/bare/", validate = "/api/v1/orders/validate/", submit = "/api/v1/orders/"}
local counter = 0
-- each wrk thread has its own Lua state: a fresh table's address tells the threads apart
local thread_tag = tostring({}):gsub("table: ", "") .. "-" .. tostring(os.time())

request = function()
  counter = counter + 1
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Token " .. token}
  if target == "submit" then headers["Idempotency-Key"] = "bench-" .. thread_tag .. "-" .. counter end
  local body = target == "bare" and "{}" or order
  return wrk.format("POST", paths[target], headers, body)
end
