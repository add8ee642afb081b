// Runs s3rver's command line (its package ships lib/cli.js without the
// bin/ file that would call it): node tests/s3/s3rver.js -d DIR -a ADDR -p PORT ...
'use strict';
require('@20minutes/s3rver/lib/cli.js').parseAsync(process.argv);
