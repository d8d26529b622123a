<?php
// Test-only WordPress configuration, copied into the extracted tree by tests/woo_server.py.
// One tree serves several shops (HPOS and legacy posts order storage): each php process gets
// its database and URL from the environment. The database is reached over its unix socket.
define('DB_NAME', getenv('WOO_TEST_DB_NAME') ?: 'wordpress');
define('DB_USER', 'root');
define('DB_PASSWORD', '');
define('DB_HOST', 'localhost:' . getenv('WOO_TEST_DB_SOCKET'));
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
$table_prefix = 'wp_';
foreach (['AUTH_KEY', 'SECURE_AUTH_KEY', 'LOGGED_IN_KEY', 'NONCE_KEY',
          'AUTH_SALT', 'SECURE_AUTH_SALT', 'LOGGED_IN_SALT', 'NONCE_SALT'] as $k) {
    define($k, "test-only-$k");
}
// The URL lives here, not in the options table, so a restored dump works on any port.
define('WP_HOME', getenv('WOO_TEST_URL'));
define('WP_SITEURL', getenv('WOO_TEST_URL'));
define('WP_HTTP_BLOCK_EXTERNAL', true);   // no calls home (wordpress.org, woocommerce.com)
define('DISABLE_WP_CRON', true);          // no background loopback requests
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_DEBUG', false);
// WooCommerce accepts the consumer key/secret as Basic auth only when is_ssl() is true
// (over plain http it wants OAuth 1.0a signatures); php -S speaks plain http.
$_SERVER['HTTPS'] = 'on';
if (!defined('ABSPATH')) {
    define('ABSPATH', __DIR__ . '/');
}
require_once ABSPATH . 'wp-settings.php';
