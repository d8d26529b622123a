// A real Vendure store for the ogo-syncd Vendure tests (see /docs/connectors/vendure.md).
// In-memory sql.js database: every boot starts empty and is seeded by `populate`.
// Binds 127.0.0.1 on $PORT and prints one "READY port=<n> boot_ms=<ms>" line when usable.
const { bootstrap, DefaultLogger, LogLevel, dummyPaymentHandler } = require('@vendure/core');
const { populate } = require('@vendure/core/cli');

const port = Number(process.env.PORT || 3000);
const config = {
  apiOptions: { port, hostname: '127.0.0.1', adminApiPath: 'admin-api', shopApiPath: 'shop-api' },
  authOptions: {
    tokenMethod: ['bearer', 'cookie'],
    requireVerification: false,
    superadminCredentials: { identifier: 'superadmin', password: 'superadmin' },
    cookieOptions: { secret: 'ogo-syncd-test' },
  },
  dbConnectionOptions: { type: 'sqljs', synchronize: true, logging: false },
  paymentOptions: { paymentMethodHandlers: [dummyPaymentHandler] },
  customFields: { ProductVariant: [{ name: 'ean', type: 'string', nullable: true }] },
  logger: new DefaultLogger({ level: LogLevel.Warn }),
  plugins: [],
};
const initialData = {
  defaultLanguage: 'en',
  defaultZone: 'Europe',
  countries: [
    { name: 'Finland', code: 'FI', zone: 'Europe' },
    { name: 'Sweden', code: 'SE', zone: 'Europe' },
    { name: 'Germany', code: 'DE', zone: 'Europe' },
  ],
  taxRates: [{ name: 'Standard', percentage: 20 }],
  shippingMethods: [{ name: 'Standard Shipping', price: 500 }],
  paymentMethods: [
    {
      name: 'Dummy',
      handler: {
        code: dummyPaymentHandler.code,
        arguments: [{ name: 'automaticSettle', value: 'true' }],
      },
    },
  ],
  collections: [],
};

const started = Date.now();
populate(() => bootstrap(config), initialData)
  .then(() => console.log(`READY port=${port} boot_ms=${Date.now() - started}`))
  .catch((err) => {
    console.error(err);
    process.exit(1);
  });
