<?php
// Container Labs Nextcloud STAND-IN: WebDAV files under /remote.php/dav/files/<user>/ with basic
// auth - PUT, GET, HEAD, DELETE, MKCOL, PROPFIND (depth 0 and 1). Files live on the data volume
// (data/<user>/files/...). With Redis configured, writes take a lock there and logins are cached
// there (as Nextcloud's file locking and distributed cache do); users are in the database.
require __DIR__ . '/lib/base.php';

function fail(int $status, string $message): void {
	http_response_code($status);
	header('Content-Type: application/xml; charset=utf-8');
	echo '<?xml version="1.0" encoding="utf-8"?>' . "\n"
		. '<d:error xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns"><s:message>'
		. htmlspecialchars($message) . "</s:message></d:error>\n";
	exit;
}

$config = nc_config();
if (!$config || empty($config['installed'])) {
	fail(503, 'Nextcloud is not installed');
}
if (!nc_trusted_host($config)) {
	fail(400, 'Access through untrusted domain');
}
$info = $_SERVER['PATH_INFO'] ?? '';
if (!preg_match('#^/dav/files/([^/]+)(/.*)?$#', $info, $m) && !preg_match('#^/webdav(/.*)?$#', $info, $w)) {
	fail(404, 'Only /remote.php/dav/files/<user>/ is served by this stand-in');
}
$owner = isset($m[1]) ? rawurldecode($m[1]) : null;
$relative = rawurldecode($m[2] ?? ($w[1] ?? '/'));
if ($relative === '') {
	$relative = '/';
}
if (str_contains($relative, "\0") || preg_match('#(^|/)\.\.(/|$)#', $relative)) {
	fail(400, 'Bad path');
}

// Basic auth: the password hash comes from the distributed cache (Redis or Memcached) when it is
// cached there, else from the database.
$user = $_SERVER['PHP_AUTH_USER'] ?? null;
$password = $_SERVER['PHP_AUTH_PW'] ?? null;
if ($user === null) {
	header('WWW-Authenticate: Basic realm="Nextcloud", charset="UTF-8"');
	fail(401, 'No basic auth credentials');
}
$redis = null;
$cache = null;
try {
	$redis = nc_redis($config);
	$cache = nc_cache($config);
} catch (Throwable $e) {
	fail(503, 'The cache is configured but does not answer: ' . $e->getMessage());
}
$hash = $cache ? $cache['get']('nc:auth:' . $user) : false;
if ($hash === false) {
	try {
		$db = nc_db($config);
		$query = $db->prepare('SELECT password FROM oc_users WHERE uid = ?');
		$query->execute([$user]);
		$hash = $query->fetchColumn();
	} catch (Throwable $e) {
		fail(503, 'The database does not answer');
	}
	if ($hash !== false && $cache) {
		$cache['set']('nc:auth:' . $user, $hash);
	}
}
if ($hash === false || !password_verify((string)$password, $hash)) {
	header('WWW-Authenticate: Basic realm="Nextcloud", charset="UTF-8"');
	fail(401, 'Wrong user name or password');
}
if ($owner === null) {
	$owner = $user;
}
if ($owner !== $user) {
	fail(403, 'Not your files');
}

$home = NC_ROOT . '/data/' . $user . '/files';
if (!is_dir($home)) {
	mkdir($home, 0750, true);
}
$path = rtrim($home . $relative, '/');
if ($relative === '/') {
	$path = $home;
}
$base = '/remote.php/dav/files/' . rawurlencode($user);

/// Runs $work on the database (opened once); 503 when it does not answer or lacks the tables an
/// installed Nextcloud has (a database volume that was lost: Nextcloud's own answer is an error).
function filecache(array $config, callable $work) {
	static $db = null;
	try {
		$db = $db ?? nc_db($config);
		return $work($db);
	} catch (Throwable $e) {
		fail(503, 'The database does not answer, or lost its tables: ' . $e->getMessage());
	}
}

function etag(string $path): string {
	return '"' . md5($path . ':' . filemtime($path) . ':' . (is_file($path) ? filesize($path) : 0)) . '"';
}

/// Runs $work holding Redis's lock on the path (when Redis is there); 423 when someone else holds it.
function locked(?Redis $redis, string $key, callable $work) {
	if (!$redis) {
		return $work();
	}
	$token = bin2hex(random_bytes(8));
	if (!$redis->set('nc:lock:' . $key, $token, ['nx', 'ex' => 30])) {
		fail(423, 'The file is locked');
	}
	try {
		return $work();
	} finally {
		if ($redis->get('nc:lock:' . $key) === $token) {
			$redis->del('nc:lock:' . $key);
		}
	}
}

switch ($_SERVER['REQUEST_METHOD']) {
	case 'GET':
	case 'HEAD':
		if (!is_file($path)) {
			fail(is_dir($path) ? 405 : 404, is_dir($path) ? 'This is a folder' : 'File not found');
		}
		$known = filecache($config, function (PDO $db) use ($user, $relative) {
			$query = $db->prepare('SELECT size FROM oc_filecache WHERE user = ? AND path = ?');
			$query->execute([$user, $relative]);
			return $query->fetchColumn() !== false;
		});
		if (!$known) {
			fail(404, 'File not found (it is not in the file cache)');
		}
		header('Content-Type: ' . (mime_content_type($path) ?: 'application/octet-stream'));
		header('Content-Length: ' . filesize($path));
		header('ETag: ' . etag($path));
		header('Last-Modified: ' . gmdate('D, d M Y H:i:s', filemtime($path)) . ' GMT');
		if ($_SERVER['REQUEST_METHOD'] === 'GET') {
			readfile($path);
		}
		break;
	case 'PUT':
		if (!is_dir(dirname($path))) {
			fail(409, 'The parent folder does not exist');
		}
		if (is_dir($path)) {
			fail(405, 'A folder has this name');
		}
		$existed = is_file($path);
		locked($redis, $user . $relative, function () use ($path) {
			$tmp = $path . '.part-' . bin2hex(random_bytes(4));
			$in = fopen('php://input', 'rb');
			$out = fopen($tmp, 'wb');
			stream_copy_to_stream($in, $out);
			fclose($out);
			rename($tmp, $path);
		});
		clearstatcache();
		filecache($config, function (PDO $db) use ($user, $relative, $path) {
			$db->prepare('REPLACE INTO oc_filecache (user, path, size, mtime) VALUES (?, ?, ?, ?)')
				->execute([$user, $relative, filesize($path), filemtime($path)]);
		});
		header('ETag: ' . etag($path));
		http_response_code($existed ? 204 : 201);
		break;
	case 'DELETE':
		if (!file_exists($path) || $relative === '/') {
			fail(404, 'Not found');
		}
		locked($redis, $user . $relative, function () use ($path) {
			if (is_dir($path)) {
				$items = new RecursiveIteratorIterator(new RecursiveDirectoryIterator($path, FilesystemIterator::SKIP_DOTS), RecursiveIteratorIterator::CHILD_FIRST);
				foreach ($items as $item) {
					$item->isDir() ? rmdir($item->getPathname()) : unlink($item->getPathname());
				}
				rmdir($path);
			} else {
				unlink($path);
			}
		});
		filecache($config, function (PDO $db) use ($user, $relative) {
			$db->prepare('DELETE FROM oc_filecache WHERE user = ? AND (path = ? OR path LIKE ?)')
				->execute([$user, $relative, rtrim($relative, '/') . '/%']);
		});
		http_response_code(204);
		break;
	case 'MKCOL':
		if (file_exists($path)) {
			fail(405, 'It exists already');
		}
		if (!is_dir(dirname($path))) {
			fail(409, 'The parent folder does not exist');
		}
		mkdir($path, 0750);
		http_response_code(201);
		break;
	case 'PROPFIND':
		if (!file_exists($path)) {
			fail(404, 'Not found');
		}
		$entries = [$path];
		if (is_dir($path) && ($_SERVER['HTTP_DEPTH'] ?? '1') !== '0') {
			foreach (scandir($path) as $name) {
				if ($name !== '.' && $name !== '..' && !str_contains($name, '.part-')) {
					$entries[] = $path . '/' . $name;
				}
			}
		}
		http_response_code(207);
		header('Content-Type: application/xml; charset=utf-8');
		echo '<?xml version="1.0" encoding="utf-8"?>' . "\n" . '<d:multistatus xmlns:d="DAV:">' . "\n";
		foreach ($entries as $entry) {
			$href = $base . implode('/', array_map('rawurlencode', explode('/', substr($entry, strlen($home))))) . (is_dir($entry) ? '/' : '');
			echo '<d:response><d:href>' . htmlspecialchars(str_replace('//', '/', $href)) . '</d:href><d:propstat><d:prop>'
				. '<d:getlastmodified>' . gmdate('D, d M Y H:i:s', filemtime($entry)) . ' GMT</d:getlastmodified>'
				. '<d:getetag>' . htmlspecialchars(etag($entry)) . '</d:getetag>'
				. (is_dir($entry) ? '<d:resourcetype><d:collection/></d:resourcetype>'
					: '<d:resourcetype/><d:getcontentlength>' . filesize($entry) . '</d:getcontentlength>')
				. '</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>' . "\n";
		}
		echo "</d:multistatus>\n";
		break;
	case 'OPTIONS':
		header('DAV: 1');
		header('Allow: OPTIONS, GET, HEAD, PUT, DELETE, MKCOL, PROPFIND');
		http_response_code(200);
		break;
	default:
		fail(405, 'Method not supported by this stand-in');
}
