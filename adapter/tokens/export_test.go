package tokens

// SetCacheSize changes how many verified tokens m keeps in memory and
// empties its cache; 0 turns the cache off.
func SetCacheSize(m *Manager, n int) { m.cache.setMax(n) }

// CacheLen returns how many tokens m's cache holds.
func CacheLen(m *Manager) int { return m.cache.len() }
