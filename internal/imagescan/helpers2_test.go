package imagescan

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	bolt "go.etcd.io/bbolt"
)

func createRepo(name string, scanOnPush bool) *ecr.CreateRepositoryInput {
	return &ecr.CreateRepositoryInput{
		RepositoryName:             aws.String(name),
		ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: scanOnPush},
	}
}

func emptyBolt(path string) error {
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		return err
	}
	return db.Close()
}
