package train

import "flag"

var updateCurve = flag.Bool("update-curve", false, "rewrite testdata/vqvae_smoke_curve.json from this run")
