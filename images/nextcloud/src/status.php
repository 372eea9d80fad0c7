<?php
// Container Labs Nextcloud STAND-IN: GET /status.php, shaped like Nextcloud's.
require __DIR__ . '/lib/base.php';
$config = nc_config();
if ($config && !nc_trusted_host($config)) {
	nc_json(400, ['error' => 'Trusted domain error.', 'code' => 15]);
	exit;
}
nc_json(200, [
	'installed' => nc_installed(),
	'maintenance' => false,
	'needsDbUpgrade' => false,
	'version' => nc_version(),
	'versionstring' => $OC_VersionString,
	'edition' => '',
	'productname' => 'Nextcloud (Container Labs stand-in)',
	'extendedSupport' => false,
	'standin' => $OC_Standin,
]);
