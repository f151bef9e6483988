-- Argo CD health check for chronos.gluesync.io/ChronosJob (docs/install.md, "Argo CD").
--
-- Progressing until the Chronos operator has reported on the job's current generation;
-- Degraded when it cannot act on the spec (Ready=False) or the job's runs cannot start
-- (RunsBlocked=True); Suspended when spec.enabled is false, or while the job is paused
-- by spec.suspendUntil or outside spec.activeFrom/activeUntil; Healthy otherwise.
local hs = {}

local function condition(conditions, kind)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function said(c)
  local reason = c.reason or ""
  if c.message ~= nil and c.message ~= "" then
    return reason .. ": " .. c.message
  end
  return reason
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
local status = obj.status
if status == nil or status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Chronos operator to reconcile the job"
  return hs
end
if generation ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the Chronos operator to reconcile generation " .. generation
  return hs
end

local ready = condition(status.conditions, "Ready")
if ready == nil or ready.status == "Unknown" or
    (generation ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition of generation " .. tostring(generation)
  return hs
end
if ready.status == "False" then
  hs.status = "Degraded"
  hs.message = said(ready)
  return hs
end
if obj.spec ~= nil and obj.spec.enabled == false then
  hs.status = "Suspended"
  hs.message = said(ready)
  return hs
end
local blocked = condition(status.conditions, "RunsBlocked")
if blocked ~= nil and blocked.status == "True" then
  hs.status = "Degraded"
  hs.message = said(blocked)
  return hs
end
if ready.reason == "SuspendedUntil" or ready.reason == "Inactive" then
  hs.status = "Suspended"
  hs.message = said(ready)
  return hs
end
hs.status = "Healthy"
hs.message = said(ready)
return hs
