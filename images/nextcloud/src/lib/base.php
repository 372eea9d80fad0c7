<?php
// Container Labs Nextcloud STAND-IN: shared code. This is not Nextcloud; it implements only the
// parts of its contract that Container Labs grades (see the image's Dockerfile).

const NC_ROOT = '/var/www/html';
const NC_CONFIG = NC_ROOT . '/config/config.php';

require NC_ROOT . '/version.php';

/// config/config.php alone (what the stand-in writes).
function nc_own_config(): array {
	if (!is_file(NC_CONFIG)) {
		return [];
	}
	$CONFIG = [];
	include NC_CONFIG;
	return is_array($CONFIG) ? $CONFIG : [];
}

/// The configuration as Nextcloud reads it: config.php, then every config/*.config.php over it
/// (how a mounted file adds settings, e.g. Memcached as the distributed cache).
function nc_config(): array {
	$config = nc_own_config();
	foreach (glob(NC_ROOT . '/config/*.config.php') ?: [] as $extra) {
		$CONFIG = [];
		include $extra;
		if (is_array($CONFIG)) {
			$config = array_replace($config, $CONFIG);
		}
	}
	return $config;
}

function nc_save_config(array $config): void {
	$text = "<?php\n// Written by the Nextcloud stand-in (Container Labs).\n\$CONFIG = " . var_export($config, true) . ";\n";
	$tmp = NC_CONFIG . '.tmp';
	file_put_contents($tmp, $text);
	rename($tmp, NC_CONFIG);
	if (function_exists('opcache_invalidate')) {
		opcache_invalidate(NC_CONFIG, true);
	}
}

function nc_installed(): bool {
	return !empty(nc_config()['installed']);
}

function nc_version(): string {
	global $OC_Version;
	return implode('.', $OC_Version);
}

function nc_db(array $config): PDO {
	[$host, $port] = array_pad(explode(':', $config['dbhost'], 2), 2, '3306');
	$dsn = "mysql:host=$host;port=$port;dbname={$config['dbname']};charset=utf8mb4";
	return new PDO($dsn, $config['dbuser'], $config['dbpassword'], [
		PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
		PDO::ATTR_TIMEOUT => 5,
	]);
}

/// Redis, when the config names it for locking or the distributed cache; null otherwise.
function nc_redis(array $config): ?Redis {
	$uses = ($config['memcache.locking'] ?? '') === '\OC\Memcache\Redis'
		|| ($config['memcache.distributed'] ?? '') === '\OC\Memcache\Redis';
	if (!$uses || empty($config['redis']['host'])) {
		return null;
	}
	$redis = new Redis();
	$redis->connect($config['redis']['host'], (int)($config['redis']['port'] ?? 6379), 2.0);
	if (!empty($config['redis']['password'])) {
		$redis->auth($config['redis']['password']);
	}
	return $redis;
}

/// Memcached, when the config names it as the distributed cache (`memcached_servers`); null otherwise.
function nc_memcached(array $config): ?Memcached {
	if (($config['memcache.distributed'] ?? '') !== '\OC\Memcache\Memcached' || empty($config['memcached_servers'])) {
		return null;
	}
	$memcached = new Memcached();
	$memcached->addServers($config['memcached_servers']);
	return $memcached;
}

/// The distributed cache for small values (Redis or Memcached), as get/set closures; null without one.
function nc_cache(array $config): ?array {
	$redis = nc_redis($config);
	if ($redis) {
		return ['get' => fn($k) => $redis->get($k), 'set' => fn($k, $v) => $redis->setex($k, 300, $v)];
	}
	$memcached = nc_memcached($config);
	if ($memcached) {
		return ['get' => fn($k) => $memcached->get($k), 'set' => fn($k, $v) => $memcached->set($k, $v, 300)];
	}
	return null;
}

/// The Host header is one of trusted_domains (with or without its port), as Nextcloud requires.
function nc_trusted_host(array $config): bool {
	$host = strtolower($_SERVER['HTTP_HOST'] ?? '');
	$bare = preg_replace('/:\d+$/', '', $host);
	foreach ($config['trusted_domains'] ?? [] as $domain) {
		$domain = strtolower($domain);
		if ($domain === $host || $domain === $bare) {
			return true;
		}
	}
	return false;
}

function nc_json(int $status, array $body): void {
	http_response_code($status);
	header('Content-Type: application/json; charset=utf-8');
	header('X-Nextcloud-Standin: Container Labs');
	echo json_encode($body, JSON_UNESCAPED_SLASHES), "\n";
}

/// Environment value or the contents of the file VAR_FILE names (as the official image reads them).
function nc_env(string $name): ?string {
	$file = getenv($name . '_FILE');
	if ($file !== false && $file !== '') {
		return rtrim((string)file_get_contents($file), "\r\n");
	}
	$value = getenv($name);
	return ($value === false || $value === '') ? null : $value;
}

/// Redis settings from REDIS_HOST / REDIS_HOST_PORT / REDIS_HOST_PASSWORD, and the reverse
/// proxy's from TRUSTED_PROXIES / OVERWRITEPROTOCOL / OVERWRITEHOST / OVERWRITECLIURL, as the
/// official image applies them.
function nc_apply_env(array $config): array {
	foreach (['OVERWRITEPROTOCOL' => 'overwriteprotocol', 'OVERWRITEHOST' => 'overwritehost', 'OVERWRITECLIURL' => 'overwrite.cli.url'] as $env => $key) {
		if (($value = nc_env($env)) !== null) {
			$config[$key] = $value;
		}
	}
	if (($proxies = nc_env('TRUSTED_PROXIES')) !== null) {
		$config['trusted_proxies'] = preg_split('/\s+/', $proxies, -1, PREG_SPLIT_NO_EMPTY);
	}
	$redis = nc_env('REDIS_HOST');
	if ($redis !== null) {
		$config['memcache.distributed'] = '\OC\Memcache\Redis';
		$config['memcache.locking'] = '\OC\Memcache\Redis';
		$config['redis'] = ['host' => $redis, 'port' => (int)(nc_env('REDIS_HOST_PORT') ?? 6379)];
		if (($password = nc_env('REDIS_HOST_PASSWORD')) !== null) {
			$config['redis']['password'] = $password;
		}
	} else {
		unset($config['memcache.distributed'], $config['memcache.locking'], $config['redis']);
	}
	$config['memcache.local'] = '\OC\Memcache\APCu';
	return $config;
}
