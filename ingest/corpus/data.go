package corpus

import "fmt"

// objectKeys are the keys the generated reads fetch, per bucket.
var objectKeys = []string{"exports/2024-03-04/customers.csv", "exports/2024-03-05/orders.parquet", "logs/app-2024-03-05.gz", "index.html", "reports/q1.pdf"}

// dataReads are the S3 data events of the generated stream, most frequent
// first.
var dataReads = []string{"GetObject", "GetObject", "GetObject", "HeadObject", "ListObjects"}

// dataRead is an S3 object read or listing, shaped as CloudTrail delivers
// data events: readOnly, managementEvent false, eventCategory Data, the
// object and its bucket in resources. Most are by the organisation's
// principals; one in 50 is anonymous or by an unknown account.
func (g *generator) dataRead() event {
	a := g.crowd[g.rng.Intn(len(g.crowd))]
	bucket := g.pick(buckets)
	region := g.pick(regions)
	name := g.pick(dataReads)
	ev := g.base(a, "s3.amazonaws.com", name, region)
	ev.ReadOnly, ev.ManagementEvent, ev.EventCategory = true, false, "Data"
	owner := a.account
	host := bucket + ".s3." + region + ".amazonaws.com"
	params := map[string]any{"bucketName": bucket, "Host": host}
	ev.Resources = []resource{{AccountID: owner, Type: "AWS::S3::Bucket", ARN: "arn:aws:s3:::" + bucket}}
	if name == "ListObjects" {
		params["list-type"], params["prefix"] = "2", "exports/"
	} else {
		key := g.pick(objectKeys)
		params["key"] = key
		ev.Resources = append([]resource{{Type: "AWS::S3::Object", ARN: "arn:aws:s3:::" + bucket + "/" + key}}, ev.Resources...)
	}
	ev.RequestParameters = params
	ev.AdditionalEventData = map[string]any{"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
		"bytesTransferredIn": 0, "AuthenticationMethod": "AuthHeader", "x-amz-id-2": g.upper(40), "bytesTransferredOut": g.rng.Intn(1 << 20)}
	ev.TLSDetails.ClientProvidedHostHeader = host
	if g.rng.Intn(50) == 0 {
		ev.RecipientAccountID = owner
		if g.rng.Intn(2) == 0 {
			ev.UserIdentity = identity{Type: "AWSAccount", AccountID: "anonymous"}
			ev.SourceIPAddress = fmt.Sprintf("198.51.100.%d", 100+g.rng.Intn(100))
			ev.UserAgent = "curl/8.5.0"
		} else {
			ev.UserIdentity = identity{Type: "AWSAccount", PrincipalID: "AIDAEXAMPLEOUTSIDE" + g.upper(3), AccountID: UnknownAccount}
			ev.SourceIPAddress = fmt.Sprintf("203.0.113.%d", 100+g.rng.Intn(100))
		}
	}
	return ev
}
