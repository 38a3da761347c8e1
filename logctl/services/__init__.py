"""The five services' logic, transport-free: each depends on client protocols only."""
