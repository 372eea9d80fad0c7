<?php
// The Nextcloud version this stand-in answers as (the contract it follows is Nextcloud 28's).
$OC_Version = [28, 0, 0, 0];
$OC_VersionString = '28.0.0';
$OC_Standin = 'Container Labs stand-in: status.php, WebDAV files, Redis locking and cache only';
