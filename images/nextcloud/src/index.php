<?php
// Container Labs Nextcloud STAND-IN: every other page says plainly what this is.
require __DIR__ . '/lib/base.php';
$config = nc_config();
if ($config && !nc_trusted_host($config)) {
	http_response_code(400);
	echo "Access through untrusted domain. Add it to NEXTCLOUD_TRUSTED_DOMAINS.\n";
	exit;
}
$installed = nc_installed() ? 'installed' : 'not installed yet (set NEXTCLOUD_ADMIN_USER, NEXTCLOUD_ADMIN_PASSWORD and MYSQL_*)';
$redis = match (true) {
	($config['memcache.locking'] ?? '') === '\OC\Memcache\Redis' => 'Redis (' . htmlspecialchars($config['redis']['host']) . ')',
	($config['memcache.distributed'] ?? '') === '\OC\Memcache\Memcached' => 'Memcached (the distributed cache)',
	default => 'none (set REDIS_HOST)',
};
$path = $_SERVER['REQUEST_URI'] ?? '/';
if ($path !== '/' && $path !== '/index.php') {
	http_response_code(404);
}
header('Content-Type: text/html; charset=utf-8');
header('X-Nextcloud-Standin: Container Labs');
?><!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Nextcloud stand-in (Container Labs)</title></head>
<body>
<h1>This is a stand-in for Nextcloud, not Nextcloud</h1>
<p>Container Labs builds it because no image registry can be reached here. It implements only what the lab grades:
<code>/status.php</code>, WebDAV files under <code>/remote.php/dav/files/&lt;user&gt;/</code> with basic auth,
an automatic install into MariaDB, and Redis for file locking and caching when <code>REDIS_HOST</code> is set.
With an image registry, the same compose file runs the real <code>nextcloud</code> image.</p>
<ul><li>Status: <?= htmlspecialchars($installed) ?></li><li>Locking and cache: <?= $redis ?></li><li>Version answered: <?= htmlspecialchars($OC_VersionString) ?></li></ul>
</body></html>
