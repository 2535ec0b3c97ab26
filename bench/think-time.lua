-- wrk script: one millisecond between a response and the next request on each connection, so the
-- server is idle between requests as under real traffic rather than flat out (bench/run.sh).
function delay()
  return 1
end
